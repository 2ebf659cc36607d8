"""Seeded malformed audio for fuzzing the decoder, the engine and POST /analyze (issue 12, "keep them closed" 2).

`FuzzCorpus(seed).case(i)` is a pure function of (seed, i): the valid files the mutations start from are encoded
once per corpus from `seed`, and each case draws from `default_rng([seed, i])`, so a failing case is rebuilt from
its two numbers alone. Cases stay small (the FLAC bomb is a few KB that decodes to more than the free tier allows),
so thousands run in minutes.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from synthscope.config import TIER_LIMITS, Tier
from tests.fixtures.audio import voice_like, write_audio

#: The free tier's duration limit: what /analyze enforces for an anonymous caller (the bomb must pass it).
FREE_LIMIT_S = TIER_LIMITS[Tier.free].max_duration_s
MAX_CASE_BYTES = 2 * 1024 * 1024

# What a case's class guarantees about its outcome, when it guarantees anything (`Case.expect`).
RESULT = "result"  # a result (any verdict); 200 from /analyze
EMPTY = "empty"  # EmptyFile from the engine; 400 from /analyze
TOO_LONG = "audio-too-long"  # AudioTooLong from the engine (at the free limit); 413 from /analyze
INVALID = "invalid-samples"  # a result: not_applicable, reason invalid_samples
FINITE = "finite-samples"  # a result whose reason is not invalid_samples (a few bad samples are tolerated)
BAD_NAME = "bad-name"  # the name's extension is refused (415 from /analyze); the engine ignores names: a result


class Case(NamedTuple):
    name: str  # the client's file name (may be hostile)
    data: bytes
    kind: str  # the class that made it (one of KINDS)
    expect: str | None = None  # one of the constants above, or None: anything within the contract


#: One cycle of classes: the cheap, varied mutations more often than the slower bombs.
SCHEDULE = (
    *["truncated"] * 3,
    *["bit_flip"] * 3,
    *["wav_header_lie"] * 3,
    *["magic_noise"] * 2,
    *["float_wav"] * 2,
    *["hostile_name"] * 2,
    "m4a_duration",
    "flac_bomb",
    "empty",
    "single_sample",
)
KINDS = tuple(dict.fromkeys(SCHEDULE))
FORMATS = {"wav": ".wav", "mp3": ".mp3", "flac": ".flac", "ogg": ".ogg", "opus": ".opus", "m4a": ".m4a"}
#: A valid file of the key's format named with an extension that refuses it.
WRONG_EXT = {"wav": ".mp3", "mp3": ".wav", "flac": ".wav", "ogg": ".m4a", "opus": ".mp3", "m4a": ".flac"}
MAGICS: dict[str, tuple[bytes, ...]] = {
    ".wav": (b"RIFF\xff\xff\xff\x7fWAVE", b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00", b"RIFF"),
    ".mp3": (b"ID3\x03\x00\x00\x00\x00\x00\x00", b"ID3\x04\x00\x80\x7f\x7f\x7f\x7f", b"\xff\xfb\x90\x00"),
    ".flac": (b"fLaC", b"fLaC\x80\x00\x00\x22", b"fLaC\x00\x00\x00\x22\x10\x00\x10\x00"),
    ".ogg": (b"OggS\x00\x02", b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00", b"OggS"),
    ".opus": (
        b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x13OpusHead",
    ),
    ".m4a": (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", b"\x00\x00\x00\x18ftypisom", b"\xff\xff\xff\xffftypmp42"),
    ".webm": (b"\x1a\x45\xdf\xa3", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01webm"),
}
U32 = (0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
U16 = (0, 1, 3, 0x7FFF, 0x8000, 0xFFFF)
#: (template, expectation) for valid content; {ext} is the content's own extension.
HOSTILE_NAMES: tuple[tuple[str, str | None], ...] = (
    ("../../../../etc/passwd{ext}", RESULT),
    ("..\\..\\..\\windows\\win.ini{ext}", RESULT),
    ("/var/tmp/absolute{ext}", RESULT),
    ("C:\\Users\\victim\\a{ext}", RESULT),
    ("ctl\x01\x02\x07\x1b[31mred\x7f{ext}", RESULT),
    ("inject\r\nContent-Type: text/html\r\n\r\n<b>x{ext}", RESULT),
    ("tab\there\x0bvt\x0cff{ext}", RESULT),
    ("A" * 255 + "{ext}", RESULT),
    ("B" * 4000 + "{ext}", RESULT),
    ("音声サンプル{ext}", RESULT),
    ("🎵🎶🎵{ext}", RESULT),
    ("e\u0301te\u0301{ext}", RESULT),
    ("\u202etxt.exe{ext}", RESULT),
    ("CON{ext}", RESULT),
    ("%2e%2e%2f%2e%2e%2fa{ext}", RESULT),
    ("'; DROP TABLE reports;--{ext}", RESULT),
    ("$(reboot)`id`{ext}", RESULT),
    ('quote"d\\{ext}', RESULT),
    ("{ext}", RESULT),  # only an extension
    ("a.exe{ext}", RESULT),
    ("UPPER{EXT}", RESULT),
    ("ｆｕｌｌｗｉｄｔｈ{ext}", RESULT),  # NFKD makes it ASCII
    ("trailing dot{ext}.", None),  # accepted as {ext} today: policy, not contract
    ("", None),  # no file name at all: a 422 validation problem
    ("noextension", BAD_NAME),
    ("a{ext}.exe", BAD_NAME),
    ("notes.txt", BAD_NAME),
    ("a{wrong}", BAD_NAME),
)


def wav_bytes(
    payload: bytes,
    *,
    tag: int = 1,
    channels: int = 1,
    rate: int = 16000,
    bits: int = 16,
    byte_rate: int | None = None,
    block_align: int | None = None,
    data_size: int | None = None,
    riff_size: int | None = None,
    fmt_size: int = 16,
    fmt_extra: bytes = b"",
) -> bytes:
    """A RIFF/WAVE file whose every header field can be set to a lie (struct widths are kept, values are not)."""
    block = block_align if block_align is not None else max(1, channels * bits // 8) & 0xFFFF
    brate = byte_rate if byte_rate is not None else (rate * block) & 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", tag, channels, rate, brate, block, bits) + fmt_extra
    size = data_size if data_size is not None else len(payload)
    body = b"WAVEfmt " + struct.pack("<I", fmt_size) + fmt + b"data" + struct.pack("<I", size) + payload
    riff = riff_size if riff_size is not None else len(body) & 0xFFFFFFFF
    return b"RIFF" + struct.pack("<I", riff) + body


def _crc8(data: bytes) -> int:
    """FLAC's frame-header CRC (poly 0x07): a bomb with a bad one would be dropped as corrupt, not decoded."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    """FLAC's whole-frame CRC (poly 0x8005)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def flac_bomb(
    seconds: float, *, rate: int = 16000, channels: int = 1, value: int = 0, claimed: int | None = None
) -> bytes:
    """A FLAC of CONSTANT subframes in 65535-sample frames: ~10 bytes per 4 s, so a few KB decode to many minutes.

    `claimed` is what STREAMINFO says the total is (None: the truth; 0: unknown), so the bomb can lie to a check
    that trusts the header.
    """
    block = 65535
    total = int(seconds * rate)
    claimed = total if claimed is None else claimed
    fields = (rate << 44) | ((channels - 1) << 41) | (15 << 36) | (claimed & ((1 << 36) - 1))
    info = struct.pack(">HH", block, block) + bytes(6) + fields.to_bytes(8, "big") + bytes(16)
    out = [b"fLaC", b"\x80\x00\x00\x22", info]
    subframes = (b"\x00" + struct.pack(">h", value)) * channels  # type CONSTANT, 16-bit value
    for i in range(-(-total // block)):
        n = min(block, total - i * block)
        head = bytes([0xFF, 0xF8, 0x70, ((channels - 1) << 4) | 0x08])  # 16-bit block size at the end; 16 bits
        head += chr(i).encode("utf-8", "surrogatepass") + (n - 1).to_bytes(2, "big")
        frame = head + bytes([_crc8(head)]) + subframes
        out.append(frame + _crc16(frame).to_bytes(2, "big"))
    return b"".join(out)


def _patch_mp4(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """Set an mvhd/mdhd/tkhd duration (or timescale), an edit list or a sample delta to an absurd value."""
    box = str(rng.choice(["mvhd", "mdhd", "tkhd", "elst", "stts"]))
    out = bytearray(data)
    at = out.find(box.encode())
    if at < 0:
        return bytes(out), "missing"
    v = at + 4  # version byte; 3 flag bytes follow
    wide = out[v] == 1
    if box in ("mvhd", "mdhd"):
        off = v + 4 + (16 if wide else 8)
        if rng.random() < 0.3:  # the timescale: 1 tick per second (or 0, or absurd)
            out[off : off + 4] = int(rng.choice([0, 1, 0xFFFFFFFF])).to_bytes(4, "big")
        off += 4
    elif box == "tkhd":
        off = v + 4 + (24 if wide else 16)
    else:
        off = v + 8  # elst: first segment duration; stts: first entry's sample count
        off += 4 if box == "stts" and rng.random() < 0.5 else 0  # ... or its sample delta
        wide = wide and box == "elst"
    width = 8 if wide else 4
    value = int(rng.choice(U32)) if width == 4 else (1 << 63) - 1 - int(rng.integers(0, 1000))
    out[off : off + width] = value.to_bytes(width, "big")
    return bytes(out), f"{box}={value:#x}"


def _ogg_table() -> list[int]:
    rows = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if r & 0x80000000 else (r << 1) & 0xFFFFFFFF
        rows.append(r)
    return rows


_OGG_TABLE = _ogg_table()


def _ogg_crc(page: bytes) -> int:
    """Ogg's page CRC (poly 0x04C11DB7, unreflected)."""
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_TABLE[(crc >> 24) ^ byte]
    return crc


def _fixed_ogg_serial(data: bytes, serial: int = 0x5EED) -> bytes:
    """The Ogg muxer draws a random stream serial: pin it (and redo each page's CRC) so cases are reproducible."""
    out, pos = bytearray(data), 0
    while out[pos : pos + 4] == b"OggS":
        segs = out[pos + 26]
        end = pos + 27 + segs + sum(out[pos + 27 : pos + 27 + segs])
        out[pos + 14 : pos + 18] = serial.to_bytes(4, "little")
        out[pos + 22 : pos + 26] = bytes(4)
        out[pos + 22 : pos + 26] = _ogg_crc(bytes(out[pos:end])).to_bytes(4, "little")
        pos = end
    return bytes(out)


def _encode(path: Path, x: np.ndarray, sr: int, channels: int) -> bytes:
    data = write_audio(path, x, sr, channels).read_bytes()
    return _fixed_ogg_serial(data) if data[:4] == b"OggS" else data


class FuzzCorpus:
    """The valid files mutations start from (encoded once from `seed`), and `case(i)` built on them."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        rng = np.random.default_rng(seed)
        mono, stereo = voice_like(3.0, rng), voice_like(1.5, rng, sr=44100)
        self.mono16 = mono
        with tempfile.TemporaryDirectory(prefix="synthscope-fuzz-") as tmp:
            d = Path(tmp)
            self.valid = {f: _encode(d / f"m{e}", mono, 16000, 1) for f, e in FORMATS.items()}
            self.stereo = {f: _encode(d / f"s{e}", stereo, 44100, 2) for f, e in FORMATS.items()}
            self.single = {f: _encode(d / f"1{e}", np.array([0.25], np.float32), 16000, 1) for f, e in FORMATS.items()}

    def cases(self, count: int, start: int = 0) -> Iterator[Case]:
        for i in range(start, start + count):
            yield self.case(i)

    def case(self, index: int) -> Case:
        kind = SCHEDULE[index % len(SCHEDULE)]
        rng = np.random.default_rng([self.seed, index])
        name, data, expect = getattr(self, "_" + kind)(rng)
        tag = f"{kind}-{index:06d}"
        full = name if kind == "hostile_name" else f"{tag}-{name}"
        assert len(data) <= MAX_CASE_BYTES, (full, len(data))
        return Case(full, data, kind, expect)

    def _base(self, rng: np.random.Generator) -> tuple[str, bytes]:
        fmt = str(rng.choice(list(FORMATS)))
        return fmt, (self.stereo if rng.random() < 0.3 else self.valid)[fmt]

    # -- one method per class: (name, bytes, expectation) ---------------------------------------------------

    def _truncated(self, rng: np.random.Generator) -> tuple[str, bytes, str | None]:
        fmt, data = self._base(rng)
        r = rng.random()
        if r < 0.3:  # inside the header
            cut = int(rng.integers(1, min(len(data), 128)))
        elif r < 0.5:  # a few bytes short
            cut = len(data) - int(rng.integers(1, 64))
        else:
            cut = int(rng.integers(1, len(data)))
        return f"cut{cut}{FORMATS[fmt]}", data[:cut], None

    def _bit_flip(self, rng: np.random.Generator) -> tuple[str, bytes, str | None]:
        fmt, data = self._base(rng)
        out = bytearray(data)
        flips = int(rng.choice([1, 2, 4, 8, 32, 128]))
        span = 256 if rng.random() < 0.4 else len(out)  # the header region, or anywhere
        for pos in rng.integers(0, min(span, len(out)), flips):
            out[pos] ^= 1 << int(rng.integers(0, 8))
        return f"flip{flips}{FORMATS[fmt]}", bytes(out), None

    def _magic_noise(self, rng: np.random.Generator) -> tuple[str, bytes, str | None]:
        ext = str(rng.choice(list(MAGICS)))
        magic = MAGICS[ext][int(rng.integers(0, len(MAGICS[ext])))]
        n = int(rng.choice([0, int(rng.integers(1, 64)), int(rng.integers(64, 4096)), int(rng.integers(4096, 65536))]))
        return f"noise{n}{ext}", magic + rng.bytes(n), None

    def _wav_header_lie(self, rng: np.random.Generator) -> tuple[str, bytes, str | None]:
        seconds = float(rng.choice([0.1, 1.0, 3.0]))
        payload = (self.mono16[: int(seconds * 16000)] * 32767).astype("<i2").tobytes()
        if rng.random() < 0.2:
            payload = payload[: int(rng.integers(0, len(payload)))]  # odd lengths, partial samples
        choices: dict[str, tuple[int, ...]] = {
            "tag": (0, 2, 3, 6, 7, 0x11, 0x55, 0xFFFE, 0x1234, 0xFFFF),
            "channels": (*U16, 2, 8),
            "rate": (*U32, 8, 100, 8000, 44100, 192000, 1 << 24),
            "bits": (0, 1, 4, 7, 8, 12, 24, 32, 64, 0xFFFF),
            "byte_rate": U32,
            "block_align": U16,
            "data_size": (*U32, len(payload) + 1, len(payload) * 2),
            "riff_size": U32,
            "fmt_size": (0, 14, 15, 18, 40, 0x7FFFFFFF, 0xFFFFFFFF),
        }
        lies = {
            f: int(rng.choice(choices[f])) for f in rng.choice(list(choices), int(rng.integers(1, 4)), replace=False)
        }
        extra = rng.bytes(int(rng.choice([2, 22, 24]))) if lies.get("tag") == 0xFFFE or rng.random() < 0.1 else b""
        what = ",".join(f"{k}={v:#x}" for k, v in lies.items())
        return f"lie[{what}].wav", wav_bytes(payload, fmt_extra=extra, **lies), None

    def _float_wav(self, rng: np.random.Generator) -> tuple[str, bytes, str | None]:
        x = self.mono16.astype(np.float64)
        bits = int(rng.choice([32, 64]))
        poison = float(rng.choice([np.nan, np.inf, -np.inf, 1e38, -1e38] + ([1e300] if bits == 64 else [])))
        share = str(rng.choice(["one", "0.5%", "5%", "all"]))
        n = {"one": 1, "0.5%": len(x) // 200, "5%": len(x) // 20, "all": len(x)}[share]
        x[rng.choice(len(x), n, replace=False)] = poison
        payload = x.astype("<f4" if bits == 32 else "<f8").tobytes()
        expect = FINITE if share in ("one", "0.5%") else INVALID
        return f"f{bits}-{poison}-{share}.wav", wav_bytes(payload, tag=3, bits=bits), expect

    def _m4a_duration(self, rng: np.random.Generator) -> tuple[str, bytes, str | None]:
        data = self.valid["m4a"] if rng.random() < 0.7 else self.stereo["m4a"]
        for _ in range(int(rng.integers(1, 3))):
            data, what = _patch_mp4(data, rng)
        return f"dur[{what}].m4a", data, None

    def _flac_bomb(self, rng: np.random.Generator) -> tuple[str, bytes, str | None]:
        seconds = float(rng.uniform(FREE_LIMIT_S + 30, 3 * FREE_LIMIT_S))
        rate = int(rng.choice([8000, 16000, 44100]))
        claimed = [None, 0, rate, int(rng.integers(1, 1 << 36))][int(rng.integers(0, 4))]
        # digital silence mostly (the gate skips it); a DC level is judged window by window, so it costs far more
        value = 0 if rng.random() < 0.75 else int(rng.integers(-32768, 32768))
        channels = int(rng.integers(1, 3))
        data = flac_bomb(seconds, rate=rate, channels=channels, value=value, claimed=claimed)
        return f"bomb{seconds:.0f}s-claims{claimed}.flac", data, TOO_LONG

    def _empty(self, rng: np.random.Generator) -> tuple[str, bytes, str | None]:
        return f"zero{rng.choice(list(FORMATS.values()))}", b"", EMPTY

    def _single_sample(self, rng: np.random.Generator) -> tuple[str, bytes, str | None]:
        r = int(rng.integers(0, 6))
        if r == 0:
            fmt = str(rng.choice(list(self.single)))
            return f"one{FORMATS[fmt]}", self.single[fmt], None
        if r == 1:
            return "one-int16.wav", wav_bytes(struct.pack("<h", int(rng.integers(-32768, 32768)))), None
        if r == 2:
            return "one-nan.wav", wav_bytes(struct.pack("<f", float("nan")), tag=3, bits=32), None
        if r == 3:
            return "header-only.wav", wav_bytes(b"", data_size=int(rng.choice([0, 2, 0xFFFFFFFF]))), None
        if r == 4:
            return "one-frame.flac", flac_bomb(1 / 16000), None
        ext = str(rng.choice(list(FORMATS.values())))
        return f"one-byte{ext}", rng.bytes(1), None

    def _hostile_name(self, rng: np.random.Generator) -> tuple[str, bytes, str | None]:
        fmt, data = self._base(rng)
        template, expect = HOSTILE_NAMES[int(rng.integers(0, len(HOSTILE_NAMES)))]
        ext = FORMATS[fmt]
        name = template.replace("{EXT}", ext.upper()).replace("{ext}", ext).replace("{wrong}", WRONG_EXT[fmt])
        return name, data, expect


def disk_name(case: Case, index: int) -> str:
    """A name the case can be written under (no separators; at most ~200 bytes), keeping its odd characters."""
    safe = case.name.replace("/", "_").replace("\\", "_").replace("\x00", "_")
    raw = f"{index:06d}-{safe}".encode()[:200]
    return raw.decode("utf-8", "ignore")
