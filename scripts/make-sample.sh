#!/usr/bin/env bash
# How static/sample.mp4 was made (run from anywhere) (needs Debian's ffmpeg): a 4-second 320x180 H.264 test pattern
# with a sine tone, baseline-friendly yuv420p, moov atom first so browsers can start at once.
set -euo pipefail
cd "$(dirname "$0")/../static"
ffmpeg -y -loglevel error \
    -f lavfi -i "testsrc2=size=320x180:rate=25:duration=4" \
    -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=4" \
    -c:v libx264 -profile:v main -pix_fmt yuv420p -preset slow -crf 30 \
    -c:a aac -b:a 48k -movflags +faststart -shortest sample.mp4
ls -l sample.mp4
