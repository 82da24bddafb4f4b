"""Analysis sessions, whichever analyzer runs them: a Rekognition stream processor, or the frames
analyzer (a session queued for the analysis workers, which sample the camera's video with KVS
GetImages and look at each image with Rekognition DetectLabels)."""
