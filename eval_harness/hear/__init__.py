"""The HEAR module's tools, built on `hear_w2v_music` only through its API: embedding audio files
(`embed_files`), the `embed` / `info` / `export-hear-tasks` commands (`cli`) and NSynth exported as HEAR
tasks for heareval (`tasks`)."""
