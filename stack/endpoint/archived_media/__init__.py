"""Kinesis Video Streams archived media: ``GetImages`` from the local fragment store.

``responses`` serves the operation; ``request`` checks it, ``sampling`` says which images a page
holds, ``timeline`` maps server timestamps onto the video, ``frames`` decodes the video at those
times and ``images`` scales and encodes what it decoded.
"""
