"""A KVS data endpoint for Stubber tests of the archived-media calls (GetImages, GetClip, HLS)."""

DATA_ENDPOINT = "https://b-1234abcd.kinesisvideo.us-east-1.amazonaws.com"
