"""`make-speech`: an offline English speech corpus synthesized with espeak-ng.

The pip-only route: `espeakng_loader` ships libespeak-ng and its data; the library is driven
through ctypes in synchronous mode with a callback that collects 16-bit samples at 22.05 kHz,
which soxr resamples to 16 kHz. Text comes from a recursive English grammar bundled as
`pretrain/datagen/texts/grammar.txt` (no network, no text corpus needed).

Layout written::

    OUT/wavs/<speaker>/<speaker>-<utterance>.wav   16 kHz mono 16-bit, one to three sentences
    OUT/transcripts.tsv   path, speaker, rate_wpm, pitch, seconds, text (tab separated)

A speaker is an English voice (en, en-us, en-gb-scotland, ...) with a voice variant (+m1..+m8,
+f1..+f5, klatt, named variants) and its own base rate and pitch; each utterance varies them a little.
"""
from __future__ import annotations

import re
from contextlib import closing
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from hear_w2v_music.frames import SAMPLE_RATE  # the output rate, 16 kHz
from pretrain import fileio
from pretrain.datagen import common
ESPEAK_RATE = 22050  # Hz, espeak-ng's native rate
LANGUAGES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
             "en-029", "en-us-nyc")
# Variants that do not sound like a human talking (robots, whispers, effects) are left out.
EXCLUDED_VARIANTS = frozenset({"Demonic", "UniRobot", "anikaRobot", "croak", "whisper", "whisperf",
                               "Tweaky", "kaukovalta", "Mr serious", "RicishayMax", "RicishayMax2",
                               "RicishayMax3", "robosoft", "robosoft2", "robosoft3", "robosoft4",
                               "robosoft5", "robosoft6", "robosoft7", "robosoft8", "fast"})
BATCH = 20  # utterances per job
_ESPEAK_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS
_ESPEAK_RATE, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 3, 4  # espeak_PARAMETER values
_POS_CHARACTER, _END_PAUSE = 1, 0x1000


class Grammar:
    """A recursive text grammar: rules of alternatives with {rule} slots (see texts/grammar.txt)."""

    _SLOT = re.compile(r"\{([A-Za-z0-9_#]+)\}")
    _ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU]|hon)")

    def __init__(self, rules: dict[str, list[str]]):
        missing = {s for alts in rules.values() for a in alts for s in self._SLOT.findall(a)
                   if s not in rules and s not in ("#", "year")}
        if missing:
            raise ValueError(f"grammar uses undefined rules: {sorted(missing)}")
        if "sentence" not in rules:
            raise ValueError("grammar has no @sentence rule")
        self.rules = rules

    @classmethod
    def from_text(cls, text: str) -> "Grammar":
        """Parse the format of texts/grammar.txt: "@rule" headers, one alternative per line."""
        rules: dict[str, list[str]] = {}
        current = None
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("# "):
                continue
            if line.startswith("@"):
                current = line[1:]
                rules[current] = []
            elif current is None:
                raise ValueError(f"grammar line outside a rule: {line!r}")
            else:
                rules[current].append(line)
        return cls(rules)

    def expand(self, rule: str, rng: np.random.Generator, depth: int = 0) -> str:
        """A random expansion of `rule`; beyond depth 6 only slot-free-ish short choices recurse."""
        if rule == "#":
            return str(int(rng.choice([rng.integers(2, 13), rng.integers(13, 100), rng.integers(100, 2000)])))
        if rule == "year":
            return str(int(rng.integers(1850, 2025)))
        alternatives = self.rules[rule]
        if depth > 6:
            alternatives = sorted(alternatives, key=lambda a: a.count("{"))[:max(1, len(alternatives) // 3)]
        choice = alternatives[int(rng.integers(len(alternatives)))]
        text = self._SLOT.sub(lambda m: self.expand(m.group(1), rng, depth + 1), choice)
        return text[0].upper() + text[1:] if rule.endswith("_cap") else text

    def sentence(self, rng: np.random.Generator) -> str:
        """One sentence, capitalised, with its final punctuation."""
        text = " ".join(self.expand("sentence", rng).split())
        text = self._ARTICLE.sub(lambda m: m.group(1) + "n ", text)
        start = 1 if text.startswith('"') else 0
        return text[:start] + text[start].upper() + text[start + 1:]


@lru_cache(maxsize=1)
def default_grammar() -> Grammar:
    """The bundled grammar (pretrain/datagen/texts/grammar.txt)."""
    return Grammar.from_text((Path(__file__).parent / "texts" / "grammar.txt").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Speaker:
    """A voice: espeak-ng voice name (language+variant) with its base rate (words/min) and pitch (0-99)."""

    voice: str
    rate_wpm: int
    pitch: int
    pitch_range: int

    @property
    def folder(self) -> str:
        """A file-system-safe name of the voice."""
        return re.sub(r"[^A-Za-z0-9-]+", "_", self.voice)


def espeak_variants() -> list[str]:
    """The voice variants shipped with espeakng_loader's data, minus EXCLUDED_VARIANTS, sorted."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in EXCLUDED_VARIANTS)


def make_speakers(seed: int) -> list[Speaker]:
    """Every language x variant pair (and each language plain), with seeded base rate and pitch."""
    rng = np.random.default_rng([seed, 7])
    voices = [lang for lang in LANGUAGES] + [f"{lang}+{v}" for lang in LANGUAGES for v in espeak_variants()]
    return [Speaker(voice=v, rate_wpm=int(rng.uniform(125, 200)), pitch=int(rng.uniform(25, 75)),
                    pitch_range=int(rng.uniform(30, 90))) for v in voices]


class Espeak:
    """libespeak-ng from espeakng_loader, in synchronous mode, returning int16 audio at 22.05 kHz."""

    def __init__(self) -> None:
        import ctypes

        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        rate = self._lib.espeak_Initialize(_ESPEAK_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if rate != ESPEAK_RATE:
            raise RuntimeError(f"espeak-ng initialisation failed (returned {rate}, expected {ESPEAK_RATE} Hz)")
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = callback_type(self._collect)  # kept referenced for the library's lifetime
        self._lib.espeak_SetSynthCallback(self._callback)
        self._ctypes = ctypes

    def _collect(self, wav: "object", count: int, events: "object") -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def say(self, text: str, voice: str, rate_wpm: int, pitch: int, pitch_range: int) -> np.ndarray:
        """Synthesize `text`; returns int16 samples at 22.05 kHz, shape (samples,)."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        self._lib.espeak_SetParameter(_ESPEAK_RATE, int(rate_wpm), 0)
        self._lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
        self._lib.espeak_SetParameter(_ESPEAK_RANGE, int(pitch_range), 0)
        self._chunks = []
        data = text.encode("utf-8")
        status = self._lib.espeak_Synth(self._ctypes.c_char_p(data), len(data) + 1, 0, _POS_CHARACTER, 0,
                                        _END_PAUSE, None, None)
        if status != 0:
            raise RuntimeError(f"espeak-ng failed on {text!r} (status {status})")
        self._lib.espeak_Synchronize()
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)


@lru_cache(maxsize=1)
def engine() -> Espeak:
    """The process's espeak-ng engine (the library keeps global state, so one per process)."""
    return Espeak()


def synthesize(text: str, speaker: Speaker, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """Speak `text` with a speaker, rate and pitch jittered; returns (float32 audio at 16 kHz, rate, pitch)."""
    import soxr

    rate = int(np.clip(speaker.rate_wpm * rng.uniform(0.9, 1.1), 100, 240))
    pitch = int(np.clip(speaker.pitch + rng.integers(-6, 7), 0, 99))
    raw = engine().say(text, speaker.voice, rate, pitch, speaker.pitch_range)
    audio = soxr.resample(raw.astype(np.float32) / 32768.0, ESPEAK_RATE, SAMPLE_RATE)
    audio = common.normalize_peak(audio, peak_db=float(rng.uniform(-12.0, -2.0)))
    noise_db = rng.uniform(-70.0, -50.0)  # a faint noise floor so pauses are not digital silence
    audio = audio + (10 ** (noise_db / 20)) * rng.standard_normal(len(audio)).astype(np.float32)
    return audio.astype(np.float32), rate, pitch


def utterance_text(grammar: Grammar, rng: np.random.Generator) -> str:
    """One to three sentences (probabilities 0.5, 0.35, 0.15)."""
    count = 1 + int(rng.choice(3, p=[0.5, 0.35, 0.15]))
    return " ".join(grammar.sentence(rng) for _ in range(count))


def render_batch(batch: int, work: Path, speakers: list[Speaker], seed: int,
                 grammar: Grammar | None = None) -> list[list[str]]:
    """Render utterances batch*BATCH ... +BATCH-1 into `work`; returns their transcript rows.

    A batch already rendered (its sidecar exists) is read back, not redone.
    """
    sidecar = work / ".meta" / f"{batch:06d}.tsv"
    if sidecar.is_file():
        return [line.split("\t") for line in sidecar.read_text(encoding="utf-8").splitlines()]
    grammar = grammar or default_grammar()
    rows = []
    for index in range(batch * BATCH, (batch + 1) * BATCH):
        rng = np.random.default_rng([seed, index])
        speaker = speakers[int(rng.integers(len(speakers)))]
        text = utterance_text(grammar, rng)
        audio, rate, pitch = synthesize(text, speaker, rng)
        relative = f"wavs/{speaker.folder}/{speaker.folder}-{index:07d}.wav"
        fileio.write_wav(work / relative, audio, SAMPLE_RATE)
        rows.append([relative, speaker.voice, str(rate), str(pitch), f"{len(audio) / SAMPLE_RATE:.3f}", text])
    fileio.write_text_atomic(sidecar, "".join("\t".join(r) + "\n" for r in rows))
    return rows


def render_speech(out_dir: str | Path, hours: float, workers: int = 2, seed: int = 0,
                  progress: bool = True) -> common.RenderSummary:
    """Render about `hours` of synthetic English speech into `out_dir`; returns a summary.

    Raises ValueError (hours <= 0, workers < 1) or FileExistsError (non-empty `out_dir`).
    Interrupted runs resume from `.<name>.partial` next to `out_dir`.
    """
    budget_s = common.check_hours(hours)
    workers = common.check_workers(workers)
    out_dir = Path(out_dir)
    start = common.wall_clock()
    speakers = make_speakers(seed)
    with fileio.atomic_dir(out_dir, resume=True) as work:
        rows, done_s = _render_utterances(work, out_dir.name, budget_s, speakers, workers, seed, progress)
    voices = Counter(r[1] for r in rows)
    return common.RenderSummary(
        out_dir=out_dir, files=len(rows), audio_s=done_s, wall_s=common.wall_clock() - start,
        details={"speakers": len(voices), "languages": dict(Counter(v.split("+")[0] for v in voices.elements())),
                 "words": sum(len(r[5].split()) for r in rows),
                 "mean_utterance_s": round(done_s / max(1, len(rows)), 2)})


def _render_utterances(work: Path, name: str, budget_s: float, speakers: list[Speaker], workers: int, seed: int,
                       progress: bool) -> tuple[list[list[str]], float]:
    """Fill the partial folder `work` up to `budget_s` seconds of speech; returns (transcript rows, seconds)."""
    fileio.remove_temporaries(work, recursive=True)
    fn = partial(render_batch, work=work, speakers=speakers, seed=seed)
    done_s, rows = 0.0, []
    bar = common.progress(budget_s, f"make-speech {name}") if progress else None
    last_batch = -1
    max_batches = int(budget_s // BATCH) + 2  # every utterance lasts well over 1 s
    with closing(common.run_in_order(fn, range(max_batches), workers)) as results:
        for last_batch, batch_rows in enumerate(results):
            seconds = sum(float(r[4]) for r in batch_rows)
            rows += batch_rows
            done_s += seconds
            if bar is not None:
                bar.update(min(round(seconds), max(0, round(budget_s) - bar.n)))
            if done_s >= budget_s:
                break
    if bar is not None:
        bar.close()
    fileio.remove_temporaries(work, recursive=True)
    common.prune_unlisted(work, (".meta/*.tsv",), {f"{b:06d}" for b in range(last_batch + 1)})
    common.prune_unlisted(work, ("wavs/*/*.wav",), {Path(r[0]).stem for r in rows})
    for folder in (work / "wavs").glob("*"):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    header = "path\tspeaker\trate_wpm\tpitch\tseconds\ttext\n"
    fileio.write_text_atomic(work / "transcripts.tsv", header + "".join("\t".join(r) + "\n" for r in rows))
    return rows, done_s
