"""Audio codecs in numpy, batched over many frames (imported as softswitch_codecs)."""
