"""Embedding speed and memory of hear_w2v_music on the BASE architecture (random init), CPU.

First the machine: CPU model, torch's CPU capability, whether the OS reports the native-bf16 flags
(``avx512_bf16``, ``amx_bf16``) and what ``precision="auto"`` picks here, since bf16 is fast or
emulated depending on them. Part 1 (same process, interleaved repeats): our
``get_timestamp_embeddings`` in fp32 and bf16 against a plain HF ``Wav2Vec2Model`` fp32 forward
(``torch.no_grad``) on the same 10 s input, with the same weights; prints medians, the ratios of
ours fp32 and ours bf16 to plain HF fp32, and the cosine similarity bf16 vs fp32. Part 2 (one
subprocess per length, so peak RSS is per length): 5, 10 and 20 minutes of noise, wall time and
peak resident memory.

    .venv/bin/python benchmarks/embed_speed.py [--repeats 5] [--minutes 5 10 20] [--skip-long]
    .venv/bin/python benchmarks/embed_speed.py --repeats 1 --seconds 1 --skip-long   # a quick check
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

SR = 16000  # Hz


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine() -> dict:
    """The CPU this runs on: model, torch capability, native-bf16 flags and what precision="auto" picks."""
    from hear_w2v_music.precision import NATIVE_BF16_FLAGS, cpu_flags, cpu_name, resolve_precision

    flags = cpu_flags()
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "unknown")()
    auto, reason = resolve_precision("auto", "cpu")
    return {"cpu": cpu_name(), "torch": torch.__version__, "cpu_capability": capability,
            **{flag: flag in flags for flag in NATIVE_BF16_FLAGS}, "auto_precision": auto, "auto_reason": reason,
            "threads": torch.get_num_threads()}


def speed(repeats: int, seconds: float) -> dict:
    """Median seconds of HF fp32, ours fp32 and ours bf16 on one (1, seconds * 16000) clip."""
    import hear_w2v_music as hm

    ours32 = hm.Wav2Vec2Embedder(hm.load_checkpoint("random:base"), precision="fp32")
    ours16 = hm.Wav2Vec2Embedder(hm.load_checkpoint("random:base"), precision="bf16")
    plain = hm.load_checkpoint("random:base").model.wav2vec2.eval()  # same seed: same weights
    audio = (torch.rand(1, int(seconds * SR), generator=torch.Generator().manual_seed(0)) * 2 - 1)

    def hf():
        with torch.no_grad():
            return plain(audio).last_hidden_state

    def run(model):
        with torch.no_grad():
            return hm.get_timestamp_embeddings(audio, model)[0]

    ref, e32, e16 = hf(), run(ours32), run(ours16)  # warm-up, and the outputs to compare
    times = {"hf_fp32": [], "ours_fp32": [], "ours_bf16": []}
    for _ in range(repeats):
        times["hf_fp32"].append(_timed(hf))
        times["ours_fp32"].append(_timed(lambda: run(ours32)))
        times["ours_bf16"].append(_timed(lambda: run(ours16)))
    med = {k: statistics.median(v) for k, v in times.items()}
    cos = torch.nn.functional.cosine_similarity(e16, e32, dim=-1)
    return {
        "seconds_of_audio": seconds, "repeats": repeats, "threads": torch.get_num_threads(),
        "median_s": med, "audio_s_per_s": {k: seconds / v for k, v in med.items()},
        "speedup_fp32": med["hf_fp32"] / med["ours_fp32"], "speedup_bf16": med["hf_fp32"] / med["ours_bf16"],
        "max_abs_fp32_vs_hf": float((e32 - ref).abs().max()),
        "cosine_bf16_vs_fp32": {"min": float(cos.min()), "mean": float(cos.mean())},
    }


def long_audio(minutes: float, precision: str) -> dict:
    """Time and peak RSS of embedding ``minutes`` of noise (run in a fresh subprocess)."""
    import hear_w2v_music as hm

    model = hm.load_model("random:base", precision=precision)
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    audio = torch.rand(1, int(minutes * 60 * SR), generator=torch.Generator().manual_seed(0)) * 2 - 1
    start = time.perf_counter()
    with torch.no_grad():
        emb, ts = hm.get_timestamp_embeddings(audio, model)
    elapsed = time.perf_counter() - start
    return {"minutes": minutes, "precision": precision, "frames": int(emb.shape[1]), "seconds": elapsed,
            "audio_s_per_s": minutes * 60 / elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_load_mb": rss_model}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 10, 20])
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="fp32",
                        help="for the long-audio part")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--_long", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._long is not None:
        print(json.dumps(long_audio(args._long, args.precision)))
        return
    m = machine()
    native = m["avx512_bf16"] or m["amx_bf16"]
    print(f"machine: {m['cpu']}, torch {m['torch']}, CPU capability {m['cpu_capability']}, "
          f"avx512_bf16 {'yes' if m['avx512_bf16'] else 'no'}, amx_bf16 {'yes' if m['amx_bf16'] else 'no'}, "
          f"{m['threads']} threads; precision='auto' -> {m['auto_precision']} ({m['auto_reason']})", flush=True)
    if not args.skip_speed:
        r = {**speed(args.repeats, args.seconds), "machine": m}
        print(json.dumps(r, indent=1))
        a = r["audio_s_per_s"]
        print(f"{args.seconds:g} s BASE: plain HF fp32 {a['hf_fp32']:.2f} audio-s/s | ours fp32 {a['ours_fp32']:.2f} "
              f"({r['speedup_fp32']:.2f}x HF fp32, target >= 1.0x) | ours bf16 {a['ours_bf16']:.2f} "
              f"({r['speedup_bf16']:.2f}x HF fp32, target >= 2.2x where bf16 is native"
              f"{'' if native else '; this CPU emulates it'}) "
              f"| cosine bf16/fp32 min {r['cosine_bf16_vs_fp32']['min']:.4f}")
    if not args.skip_long:
        rows = []
        for minutes in args.minutes:
            out = subprocess.run([sys.executable, __file__, "--_long", str(minutes), "--precision", args.precision],
                                 check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"{minutes:>5} min {args.precision}: {r['seconds']:.1f} s ({r['audio_s_per_s']:.2f} audio-s/s), "
                  f"{r['frames']} frames, peak RSS {r['peak_rss_mb']:.0f} MB (after load {r['rss_after_load_mb']:.0f} MB)",
                  flush=True)
        base = rows[0]["seconds"] / rows[0]["minutes"]
        print("time per minute relative to the first length:",
              ", ".join(f"{r['minutes']:g} min {r['seconds'] / r['minutes'] / base:.2f}" for r in rows))


if __name__ == "__main__":
    main()
