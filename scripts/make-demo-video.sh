#!/usr/bin/env bash
# Make the demo input: four shots from ffmpeg's test sources, with spoken words (espeak-ng) on them.
set -euo pipefail
out=${1:?usage: make-demo-video.sh OUT.mp4}
[ -s "$out" ] && ffprobe -v error "$out" >/dev/null 2>&1 && exit 0
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
espeak-ng -s 150 -w "$work/speech.wav" \
  "Welcome to reelstep. This video has four different shots. The pipeline finds the scenes, picks keyframes, and writes down every word you hear."
size=960x540
ffmpeg -nostdin -v error -y \
  -f lavfi -i "testsrc2=size=$size:rate=24:duration=4" \
  -f lavfi -i "smptebars=size=$size:rate=24:duration=4" \
  -t 4 -f lavfi -i "mandelbrot=size=$size:rate=24" \
  -f lavfi -i "rgbtestsrc=size=$size:rate=24:duration=4" \
  -i "$work/speech.wav" \
  -filter_complex "[0:v][1:v][2:v][3:v]concat=n=4:v=1:a=0,format=yuv420p[v];[4:a]adelay=500|500,apad=whole_dur=16,aresample=44100[a]" \
  -map "[v]" -map "[a]" -c:v libx264 -preset veryfast -crf 23 -c:a aac -b:a 96k -shortest "$out"
echo "made $out"
