"""The `w2v-music` command: one click group whose commands are thin shells over typed functions.

Each package contributes a ``COMMANDS`` list from its own ``cli_*.py`` module. Those modules import
only click and the standard library at module level, so ``w2v-music --help`` stays fast; the heavy
imports (torch, transformers, Lightning) happen inside the commands.
"""
from __future__ import annotations

import importlib

import click

# Modules that contribute commands, in the order `--help` lists them.
_COMMAND_MODULES = (
    "eval_harness.hear.cli",  # embed, info, export-hear-tasks
    "pretrain.datagen.cli",  # make-nsynth, make-corpus, make-speech
    "pretrain.cli",  # pretrain, export, plot-training
    "eval_harness.cli_eval",  # finetune, benchmark
    "eval_harness.cli_analysis",  # analyze codebooks | pwcca
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="hear-w2v-music")
def main() -> None:
    """wav2vec 2.0 on music: pretrain it, embed with it (HEAR API), evaluate it on NSynth."""


for _name in _COMMAND_MODULES:
    for _command in importlib.import_module(_name).COMMANDS:
        main.add_command(_command)


if __name__ == "__main__":
    main()
