"""Routines the audio tests share: short, but with every kind of cue."""

SHORT = """
voiceguide: 1
title: Short test session
intro: Settle your partner face down.
steps:
  - title: Spread the oil
    say: Spread the oil over the whole back with long, slow strokes.
    duration: 25s
  - title: Strokes beside the spine
    say: Glide up beside the spine to the shoulders.
    reps: 3
    per_rep: 6s
    count: true
  - title: Circles
    say: Make slow circles over the lower back.
    duration: 20s
outro: Rest your hands, then lift them away.
"""

#: A step worked on both sides, counted: for next/back by side and the screen.
TWO_SIDED = """
voiceguide: 1
title: Two sides
steps:
  - title: Warm up
    say: Spread the oil.
    duration: 12s
  - title: Kneading
    say: Knead the shoulder muscle.
    sides: [left, right]
    reps: 3
    per_rep: 5s
    count: true
  - title: Circles
    say: Make slow circles.
    duration: 12s
"""
