"""Synthetic live traffic for the benchmark: chat-like lines and their arrival times, seeded.

Live traffic differs from a timed loop over the same sentence: nearly every line has a length the engine has
not seen, and lines arrive at random moments. `chat_lines` makes such lines (English and Chinese, 1 to ~15
words, each of a different UTF-8 byte length by default, since the F5 duration rule maps bytes to frames);
`poisson_arrivals` makes arrival offsets of a Poisson process. Both are pure and deterministic for a seed, so
two benchmark runs (or a baseline and a later run) see exactly the same workload.
"""

from __future__ import annotations

import random

# Small vocabularies of ordinary chat words; lines are drawn from them, so no line is copied from anywhere.
_EN_WORDS: tuple[str, ...] = (
    "hello", "chat", "great", "stream", "today", "what", "game", "is", "this", "so", "good", "lol", "wow",
    "play", "again", "please", "nice", "shot", "that", "was", "close", "thanks", "for", "the", "music",
    "who", "won", "last", "round", "can", "you", "say", "my", "name", "love", "voice", "first", "time",
    "here", "from", "brazil", "germany", "tokyo", "welcome", "back", "everyone", "let's", "go", "team",
    "when", "next", "video", "hype", "clip", "funny", "really", "how", "did", "do", "it", "quick",
    "question", "about", "build", "settings", "map", "boss", "fight", "hard", "easy", "mode", "one", "more",
)
_ZH_WORDS: tuple[str, ...] = (
    "你好", "主播", "今天", "直播", "真的", "太", "厉害", "了", "哈哈", "这个", "游戏", "好玩", "再来",
    "一局", "谢谢", "大家", "支持", "晚上", "好", "欢迎", "回来", "我们", "一起", "加油", "什么", "时候",
    "下播", "声音", "好听", "第一次", "来", "看", "关注", "点赞", "音乐", "不错", "问题", "怎么", "玩",
    "老板", "大气", "礼物", "感谢", "朋友", "开心", "明天", "见", "可以", "唱", "首歌",
)
_EN_ENDINGS = ("", "!", "?", ".", "!!")
# Chinese chat mixes in ASCII ("666", "2333", "~"): realistic, and it gives Chinese lines byte lengths that
# are not all multiples of three, so enough distinct lengths exist.
_ZH_ENDINGS = ("", "！", "？", "。", "~", "!!", "666", "2333", "～～")


def _line(rng: random.Random, lang: str, words: int) -> str:
    if lang == "zh":
        return "".join(rng.choice(_ZH_WORDS) for _ in range(words)) + rng.choice(_ZH_ENDINGS)
    text = " ".join(rng.choice(_EN_WORDS) for _ in range(words)) + rng.choice(_EN_ENDINGS)
    return text[0].upper() + text[1:]


def chat_lines(count: int, seed: int = 0, *, min_words: int = 1, max_words: int = 15,
               languages: tuple[str, ...] = ("en", "zh"), distinct_lengths: bool = True) -> list[str]:
    """`count` chat-like lines of `min_words`..`max_words` words, languages taken in turn from `languages`.

    With `distinct_lengths` every line has a UTF-8 byte length no other line has (the duration rule turns
    bytes into frames, so each line asks the engine for a new length); ValueError when the word range cannot
    give that many distinct lengths.
    """
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    if not 1 <= min_words <= max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words} and {max_words}")
    unknown = [lang for lang in languages if lang not in ("en", "zh")]
    if not languages or unknown:
        raise ValueError(f"languages must be drawn from 'en' and 'zh', got {languages!r}")
    rng = random.Random(seed)
    lines: list[str] = []
    seen: set[int] = set()
    attempts = 0
    while len(lines) < count:
        attempts += 1
        if attempts > 200 * (count + 10):
            raise ValueError(f"cannot make {count} lines of distinct lengths from {min_words}-{max_words} words; "
                             "widen the word range, add a language or pass distinct_lengths=False")
        lang = languages[len(lines) % len(languages)]
        text = _line(rng, lang, rng.randint(min_words, max_words))
        size = len(text.encode("utf-8"))
        if distinct_lengths and size in seen:
            continue
        seen.add(size)
        lines.append(text)
    return lines


def poisson_arrivals(count: int, rate: float, seed: int = 0) -> list[float]:
    """Arrival offsets in seconds from 0 of `count` events of a Poisson process with `rate` events per second
    (exponential gaps), ascending; the first arrival is at 0 so a run starts with work."""
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    if not rate > 0:
        raise ValueError(f"rate must be above 0 events per second, got {rate}")
    rng = random.Random(seed)
    times: list[float] = []
    t = 0.0
    for i in range(count):
        if i:
            t += rng.expovariate(rate)
        times.append(t)
    return times
