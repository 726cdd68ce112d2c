"""The CSV dialect shared by export and import: formula-injection escaping of text cells, and its reversal."""

# A text cell starting with one of these would be read as a formula by spreadsheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


def escape_text_cell(text: str) -> str:
    """Prefix one ``'`` to a text cell that a spreadsheet could take for a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def unescape_text_cell(text: str) -> str:
    """Undo :func:`escape_text_cell`: drop one leading ``'`` when the next character is a trigger."""
    if len(text) >= 2 and text[0] == "'" and text[1] in FORMULA_TRIGGERS:
        return text[1:]
    return text
