"""Command-surface languages: names, descriptions, option names and choices in en-US and zh-CN.

Every user-visible string of a command is declared where the command is, in both languages:
`loc("Generate a video", zh="生成一段视频")`. `CommandTranslator` hands Discord the Chinese
for zh-CN (and zh-TW, which reads simplified better than English) and nothing for other
locales, which then see the English default. Replies use `bot.i18n.Message` with
`interaction.locale`.
"""

from __future__ import annotations

from discord import Locale, app_commands

__all__ = ["loc", "CommandTranslator", "CHINESE"]

CHINESE = frozenset({Locale.chinese, Locale.taiwan_chinese})


def loc(en: str, *, zh: str) -> app_commands.locale_str:
    """A command string with its Chinese translation attached."""
    return app_commands.locale_str(en, zh=zh)


class CommandTranslator(app_commands.Translator):
    async def translate(
        self, string: app_commands.locale_str, locale: Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if locale in CHINESE:
            return string.extras.get("zh")
        return None
