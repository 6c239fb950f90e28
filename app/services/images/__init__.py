"""Images: the library (uploads, crops, current picks), the Pillow pipeline and the presets."""
