"""The analysis workers: frames sessions from the analysis queue, analysed with KVS GetImages and
Rekognition DetectLabels, results published as a ConnectedHome stream processor publishes them."""
