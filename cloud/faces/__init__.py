"""The fleet's known faces: a Rekognition collection, the photos kept beside it, recognition."""
