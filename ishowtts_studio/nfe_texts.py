"""The built-in sentence set for NFE comparisons: English and Chinese, short to long."""

from __future__ import annotations

NFE_TEXTS: tuple[str, ...] = (
    "Hello there.",
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "I can't believe you finished the whole project in a single weekend!",
    "Turn left at the second traffic light, then keep going until you see the old bakery.",
    "Numbers are tricky: the meeting moved from 3:15 to 4:45 on March 22nd.",
    "Would you like tea, or coffee?",
    "Science advances one funeral at a time, or so the saying goes.",
    "When the storm finally passed, the whole village came out to look at the sky, "
    "which had turned a strange and beautiful shade of violet.",
    "Thank you for watching, and don't forget to subscribe.",
    "She sells seashells by the seashore.",
    "Honestly, that was the best game I have played all year.",
    "你好。",
    "今天天气很好，我们去公园散步吧。",
    "请在下一个路口右转，然后直走大约五百米。",
    "这本书我已经读了三遍，每一次都有新的收获。",
    "谢谢大家的支持，我们下次直播再见！",
    "科学研究需要耐心、好奇心，以及面对失败的勇气。",
    "会议从下午三点改到了四点半，请大家相互转告。",
    "当暴风雨终于过去的时候，整个村子的人都走出家门，望着那片被染成紫色的天空。",
    "你想喝茶还是咖啡？",
    "This sentence mixes English and 中文，which is common in live streams.",
)
