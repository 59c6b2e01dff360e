"""Regenerate the speech fixtures of the voice pipeline test (tests/test_worker_voice.py).

Run once with espeak-ng installed (``apt-get install espeak-ng``); the WAV files are
committed so the test needs neither espeak-ng nor a network. 16 kHz mono 16-bit PCM:
what Silero VAD runs at.
"""

from __future__ import annotations

import io
import subprocess
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE = 16_000
UTTERANCES = {
    "speech_1.wav": "Can I ask about my prescription?",
    "speech_2.wav": "That's all, thank you.",
}


def synthesize(text: str) -> np.ndarray:
    raw = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "175", "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(raw)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    positions = np.arange(0, len(samples), rate / RATE)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.int16)


def main() -> None:
    for name, text in UTTERANCES.items():
        samples = synthesize(text)
        with wave.open(str(HERE / name), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(samples.tobytes())
        print(f"{name}: {len(samples) / RATE:.2f} s, {text!r}")


if __name__ == "__main__":
    main()
