"""Sentences for TTS, taken where possible from what the human recordings say.

Fillets ships its dialogue (English source line + translations) and Asterisk ships the
transcript of its phone prompts, so TTS can speak the same content the humans speak
(content-matched pairs). Languages no human source covers get a few sentences of our own.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

from .fetch import fetch_deb

_DIALOG_RE = re.compile(
    r'dialogId\(\s*"([^"]+)"\s*,\s*(?:"([^"]*)"|nil)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)\s*'
    r'dialogStr\(\s*"((?:[^"\\]|\\.)*)"\s*\)',
    re.S,
)
#: Languages of the Asterisk prompt sets (each ships a transcript in asterisk-core-sounds-LANG).
ASTERISK_LANGS = ("en", "es", "fr", "it", "ru")
#: Keypad symbols in the prompt transcripts, as the speakers say them.
_KEYS = {"en": {"*": "star", "#": "pound"}, "fr": {"*": "étoile", "#": "dièse"}}
MIN_CHARS, MAX_CHARS = 20, 220


def clean(s: str) -> str:
    """Unescape Lua strings and flatten typographic quotes (Latin-1 voices cannot say them)."""
    s = s.replace("\\n", " ").replace('\\"', '"').replace("\\", "")
    s = s.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", s).strip()


@dataclass(frozen=True)
class Line:
    """One Fillets dialogue line: level, id, character (font), English source, native text."""

    level: str
    did: str
    font: str
    english: str
    native: str


def fillets_lines(cache: Path, lang: str) -> list[Line]:
    """Parse script/*/dialogs_LANG.lua of fillets-ng-data (English line + translation)."""
    root = fetch_deb("fillets-ng-data", cache) / "usr/share/games/fillets-ng/script"
    out = []
    for f in sorted(root.glob(f"*/dialogs_{lang}.lua")):
        for m in _DIALOG_RE.finditer(f.read_text(encoding="utf-8", errors="replace")):
            out.append(
                Line(
                    f.parent.name,
                    m.group(1),
                    (m.group(2) or "").replace("font_", "") or "other",
                    clean(m.group(3)),
                    clean(m.group(4)),
                )
            )
    return out


def asterisk_prompts(cache: Path, lang: str) -> dict[str, str]:
    """Prompt name ('digits/1', 'vm-goodbye') -> spoken text, from core-sounds-LANG.txt.

    Bracketed notes ('[this is a simple beep tone]', '(10 seconds of silence)') are not
    speech and are dropped; prompts that are only a note disappear.
    """
    pkg = f"asterisk-core-sounds-{lang}"
    path = fetch_deb(pkg, cache) / f"usr/share/doc/{pkg}/core-sounds-{lang}.txt.gz"
    out: dict[str, str] = {}
    keys = _KEYS.get(lang, {})
    for raw in gzip.decompress(path.read_bytes()).decode("utf-8-sig", errors="replace").splitlines():
        name, sep, text = raw.partition(":")
        if not sep or name.startswith(";") or " " in name.strip():
            continue
        text = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", text)
        for sym, word in keys.items():
            text = text.replace(sym, f" {word} ")
        text = clean(re.sub(r"[*#]", " ", text))
        if re.search(r"\w", text):
            out[name.strip()] = text
    return out


def as_sentence(t: str) -> str:
    """End a prompt with punctuation so joined prompts are read as separate sentences."""
    return t if re.search(r"[.!?。！？]$", t) else f"{t}."


def prompt_sentences(prompts: dict[str, str]) -> list[str]:
    """Prompts as TTS input: long ones alone, short ones joined in order (as the humans are packed)."""
    out: list[str] = []
    cur: list[str] = []
    for text in prompts.values():
        if len(text) >= MIN_CHARS and not cur:
            out.append(text)
            continue
        cur.append(as_sentence(text))
        if sum(len(c) + 1 for c in cur) >= MIN_CHARS:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


EXTRA_EN = [
    "Please leave your message after the tone, and we will call you back as soon as possible.",
    "The quarterly report shows a small increase in revenue compared with last year.",
    "Turn left at the next intersection, then continue straight for two kilometres.",
    "I honestly did not expect the weather to change so quickly this afternoon.",
    "Our next train to the city centre departs from platform four in ten minutes.",
    "Could you remind me where we left the keys before we went out for dinner?",
    "Thank you for calling. All of our agents are currently busy with other customers.",
    "The museum is open every day except Monday, from nine in the morning until six.",
    "She told me the story twice, and each time the ending was a little different.",
    "If you would like to hear these options again, please press the star key.",
    "We are going to need a bigger boat, and probably a much better plan.",
    "The recipe calls for two cups of flour, one egg and a pinch of salt.",
]

JA_SENTENCES = [
    "こんにちは。今日はいい天気ですね。",
    "駅までの道を教えていただけますか。",
    "明日の会議は午前十時から始まります。",
    "この本はとても面白かったので、友達にも勧めました。",
    "すみません、もう一度ゆっくり話していただけますか。",
    "週末は家族と一緒に海へ行く予定です。",
    "新しいプロジェクトについて簡単に説明します。",
    "電車が遅れているので、少し待ってください。",
    "私は毎朝コーヒーを飲んでから仕事を始めます。",
    "冷蔵庫の中に昨日のケーキが残っています。",
    "この先の交差点を右に曲がってください。",
    "お電話ありがとうございます。ただいま担当者は席を外しております。",
    "今年の夏は去年よりもずっと暑くなりそうです。",
    "図書館は月曜日を除いて毎日開いています。",
    "彼女は静かに窓の外を見つめていました。",
    "大きな魚が来る前に、ここから逃げたほうがいいと思います。",
    "子供たちは公園で楽しそうに遊んでいます。",
    "このボタンを押すと、最初のメニューに戻ります。",
    "昨日の夜、不思議な夢を見ました。",
    "来週の金曜日までにレポートを提出してください。",
    "山の上から見る景色は本当にきれいでした。",
    "この料理には卵と小麦粉と少しの塩が必要です。",
    "残念ながら、その商品は現在在庫がありません。",
    "私たちは本当のことを知る必要があります。",
    "猫が机の上で気持ちよさそうに眠っています。",
    "次の電車は十分後に四番線から発車します。",
    "もう少し大きな船が必要かもしれませんね。",
    "彼はいつも約束の時間より早く来ます。",
    "雨が降りそうなので、傘を持って行きましょう。",
    "ご質問があれば、いつでも気軽に聞いてください。",
    "この部屋はとても珍しい形をしていますね。",
    "申し訳ございませんが、もう一度番号を入力してください。",
    "メッセージを録音するには、発信音の後にお話しください。",
    "どうやってあの鉄の壁を通り抜ければいいのでしょうか。",
    "朝ご飯を食べたら、すぐに出かけましょう。",
    "その話は前にも聞いたことがあるような気がします。",
    "窓を開けると、海の匂いがしました。",
    "ただいま電話が大変混み合っております。",
    "このパスワードは条件を満たしていません。",
    "ここには面白そうな部屋がたくさんありますね。",
    "明日は朝早いので、今夜は早く寝ます。",
    "駅前の新しいパン屋さんはもう行きましたか。",
    "地図によると、宝物はこの岩の下にあるはずです。",
    "お名前とご用件をお話しください。",
    "電池が少なくなってきたので、充電してください。",
    "彼の説明はとても分かりやすかったです。",
    "もしもし、聞こえますか。電波が悪いようです。",
    "この魚はずいぶん大きくて重そうですね。",
    "週末の天気は晴れのち曇りの予報です。",
    "会議室の予約は三時から五時までです。",
]

# Catalan (festvox-ca-ona-hts) and Finnish (festvox-suopuhe-*): no human source speaks them.
CA_SENTENCES = [
    "Bon dia, com estàs? Avui fa un temps molt agradable.",
    "El museu és obert cada dia excepte dilluns, de nou del matí a sis de la tarda.",
    "El proper tren cap al centre surt de l'andana quatre d'aquí a deu minuts.",
    "Si us plau, deixeu el vostre missatge després del senyal.",
    "Gràcies per trucar. Tots els nostres agents estan ocupats en aquest moment.",
    "Podries recordar-me on vam deixar les claus abans de sortir a sopar?",
    "La recepta demana dues tasses de farina, un ou i una mica de sal.",
    "Gira a l'esquerra a la propera cruïlla i continua recte dos quilòmetres.",
    "Aquest estiu farà molta més calor que l'any passat.",
    "Els nens juguen al parc mentre els pares parlen a l'ombra.",
    "Si voleu tornar a escoltar aquestes opcions, premeu la tecla estrella.",
    "La biblioteca tanca a les vuit del vespre els dies feiners.",
    "Ahir a la nit vaig tenir un somni molt estrany.",
    "Necessitarem una barca més gran i, probablement, un pla millor.",
    "El gat dorm tranquil·lament damunt de la taula de la cuina.",
    "Ha començat a ploure, així que agafa el paraigua abans de sortir.",
    "La reunió de demà començarà a les deu en punt.",
    "Ens va explicar la història dues vegades i el final sempre canviava.",
    "Disculpi, em pot dir on és l'estació de tren més propera?",
    "Des del cim de la muntanya la vista era realment preciosa.",
]

FI_SENTENCES = [
    "Hyvää huomenta, tänään on todella kaunis päivä.",
    "Museo on avoinna joka päivä paitsi maanantaisin, yhdeksästä kuuteen.",
    "Seuraava juna keskustaan lähtee laiturilta neljä kymmenen minuutin kuluttua.",
    "Jätä viestisi äänimerkin jälkeen, niin soitamme sinulle takaisin.",
    "Kiitos soitostasi. Kaikki asiakaspalvelijamme ovat tällä hetkellä varattuja.",
    "Muistatko, mihin jätimme avaimet ennen kuin lähdimme syömään?",
    "Reseptiin tarvitaan kaksi kupillista jauhoja, yksi kananmuna ja ripaus suolaa.",
    "Käänny seuraavasta risteyksestä vasemmalle ja jatka suoraan kaksi kilometriä.",
    "Tästä kesästä näyttää tulevan paljon viime vuotta lämpimämpi.",
    "Lapset leikkivät puistossa, ja vanhemmat juttelevat penkillä.",
    "Jos haluat kuulla vaihtoehdot uudelleen, paina tähtinäppäintä.",
    "Kirjasto on auki arkisin kello kahdeksaan asti.",
    "Näin viime yönä hyvin oudon unen.",
    "Tarvitsemme isomman veneen ja luultavasti paljon paremman suunnitelman.",
    "Kissa nukkuu tyytyväisenä keittiön pöydällä.",
    "Alkoi sataa, joten ota sateenvarjo mukaan ennen kuin lähdet.",
    "Huomisen kokous alkaa tasan kello kymmenen.",
    "Hän kertoi tarinan kahdesti, ja loppu oli joka kerta hieman erilainen.",
    "Anteeksi, voisitteko kertoa, missä on lähin rautatieasema?",
    "Vuoren huipulta avautuva näkymä oli todella upea.",
    "Tämä huone on todella erikoisen muotoinen.",
    "Valitettavasti antamasi salasana ei täytä vaatimuksia.",
    "Paina ykköstä, jos haluat kuunnella viestisi.",
    "Miten ihmeessä pääsemme tuon teräsoven läpi?",
    "Syödään ensin aamupala ja lähdetään sitten liikkeelle.",
    "Minusta tuntuu, että olen kuullut tämän tarinan ennenkin.",
    "Kun avasin ikkunan, tunsin meren tuoksun.",
    "Kaikki linjat ovat tällä hetkellä varattuina, odota hetki.",
    "Täällä on paljon mielenkiintoisia huoneita tutkittavaksi.",
    "Huomenna on aikainen herätys, joten menen tänään ajoissa nukkumaan.",
    "Oletko jo käynyt aseman uudessa leipomossa?",
    "Kartan mukaan aarre on tämän kiven alla.",
    "Kerro nimesi ja asiasi äänimerkin jälkeen.",
    "Akku on vähissä, joten laita puhelin lataukseen.",
    "Hänen selityksensä oli todella selkeä.",
    "Viikonlopuksi luvataan aurinkoista ja poutaista säätä.",
]

_OWN = {"ja": JA_SENTENCES, "ca": CA_SENTENCES, "fi": FI_SENTENCES}


def tts_texts(cache: Path, lang: str) -> list[str]:
    """Sentences for TTS in `lang`: Fillets lines, Asterisk prompts, and a few of our own.

    English uses the English source lines of the Czech script; other languages use the
    Fillets translation of that language when it exists.
    """
    if lang in _OWN:
        return list(_OWN[lang])
    lines = fillets_lines(cache, "cs" if lang == "en" else lang)
    raw = [ln.english if lang == "en" else ln.native for ln in lines]
    if lang == "en":
        raw += EXTRA_EN
    if lang in ASTERISK_LANGS:
        raw += prompt_sentences(asterisk_prompts(cache, lang))
    seen: set[str] = set()
    out = []
    for t in raw:
        if MIN_CHARS <= len(t) <= MAX_CHARS and t not in seen and re.search(r"\w", t):
            seen.add(t)
            out.append(t)
    return out
