"""Recorded prompts and music on hold, shipped as package data (imported as softswitch_prompts).

`texts.toml` says what each prompt says; `<language>/<name>.wav` are made from it by
scripts/make_prompts.py, `moh/<class>/*.wav` are music-on-hold classes (the default one made by
scripts/make_moh.py). softswitch.media.prompts reads them through importlib.resources, so they are
found the same way from a checkout, an installed wheel or a frozen binary.
"""
