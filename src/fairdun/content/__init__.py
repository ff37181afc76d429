"""The message content checker: unlawful collection language in Chinese and English.

``checker.check`` is the one entry point; ``rules`` is the transparent rule layer (lexicons
in ``lexicon/``), ``model`` the statistical layer for paraphrases (artefact in ``model/``).
"""
