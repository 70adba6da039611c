"""Video files: an mp4 writer (H.264 + AAC, atomic) and a timestamp-based reader."""
