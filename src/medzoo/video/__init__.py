"""Video, in one place: the frame reader and writer (``stream``: a video file or a folder of
frames), the temporal rules (``temporal``: k-of-n persistence, windows), frame-by-frame
prediction (``predict``, what ``python -m medzoo.predict`` does for a video) and clips
animated from still images (``clips``) where no public video exists."""
