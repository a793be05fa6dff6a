"""The starter routine ``voiceguide new`` writes: a working example that teaches the format."""

STARTER = """\
# A voiceguide routine. Check it with:  voiceguide validate {file}
# See every field in docs/routine-format.md.
voiceguide: 1
title: {title}
summary: A short, gentle back massage.
ambience: river            # river, rain, ocean, music-pad, music-bells, a file, or none

preparation:               # the checklist shown before the start (not timed)
  - Your partner face down and comfortable, the room warm.
  - A little oil within reach.
intro: We will start with long, slow strokes. Let {{bed}} help you both settle.
cautions:
  - Never press on the spine itself; work on the muscles beside it.
check_in:
  every: 5m
  say: Ask your partner whether the pressure feels right.

steps:
  - title: Spread the oil
    technique: effleurage
    pressure: light
    say: With flat, relaxed hands, spread the oil over the whole back in long, slow strokes.
    duration: 1m..2m           # a range: --length decides where in it to land

  - title: Long strokes beside the spine
    technique: effleurage
    say: Place your palms either side of the spine and glide up to the shoulders, then back down.
    reps: 4..6
    per_rep: 10s
    count: true                # says "two", "three", ... as each stroke begins

  - title: Knead the shoulders
    technique: petrissage
    pressure: medium
    say: Squeeze and release the muscle on top of the shoulder, like kneading soft dough.
    sides: [left, right]       # done once per side, with a spoken switch
    duration: 1m
    shrink: 0.7                # --length may shorten this to 70 %; nothing else is cut
    cues:
      - at: half
        say: Keep your hands soft and your breathing slow.

  - pause: 10s                 # the bed plays, nobody talks
    optional: true             # left out first when --length is short

outro: Rest both hands on the back for a moment, then lift them away slowly.
"""


def starter_routine(title: str, file: str = "this file") -> str:
    return STARTER.format(title=title, file=file)
