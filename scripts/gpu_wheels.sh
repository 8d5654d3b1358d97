# Sourced by the GPU check scripts: installs the wheels carried in .gpu/whl (soundfile, soxr, pretty_midi,
# tinysoundfont, ...: what the GPU image lacks) into /tmp/site when $PY cannot import what they provide, and sets
# PYTHONPATH to the repository (and /tmp/site). Locally, with the project's venv as PY, it installs nothing.
PY=${PY:-python3}
if ! "$PY" -c "import soundfile, soxr, tinysoundfont, pretty_midi" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
    || { echo "gpu_wheels: could not install .gpu/whl/*.whl (carry .gpu)" >&2; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
