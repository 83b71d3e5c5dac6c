"""The one trainer: a model + a batch source + a config, run in a background job (tutorial part 2).

    config.py       the training settings (TrainConfig), checked in plain words
    memory.py       a run's size before anything is allocated: parameters on the meta device, a step's memory
    batches.py      batch sources: random windows of a text; targets a loss ignores
    loss.py         the loss estimated over many batches; diagnosing a blow-up
    muon.py         Muon: momentum orthogonalised by Newton–Schulz, for the blocks' matrices (the speedrun)
    optim.py        AdamW: what decays, the learning-rate schedule, state by name
    record.py       the history: one Record per loss estimate, the throughput over a run
    loop.py         the loop itself (batch, forward, backward, step, evaluate) and the moments it tells
    observers.py    what a run does besides training: time left, look inside, text samples, measures, ranks agreeing
    train.py        the training run: set-up, start/stop, snapshots for a page
    distributed.py  the same trainer under torchrun: DistributedDataParallel, rank 0 speaks
    presets.py      LM1-LM5 (and fast-cpu, the translation) as typed, checked settings, and all else about
                    each: the tutorial's result, its diagram's new parts, its page's sliders, code and text
    plan.py         a run as a page sets it up: the preset with the learner's changes, checked, timed, built
    recipes.py      what changed since GPT-2: the speedrun's changes, trained one after another, judged by time
    runs.py         a session's runs beside the tutorial's results
    retention.py    what a session keeps: a budget of runs and bytes, the oldest let go in words, bounded histories
    pace.py         how long a run takes: predicted before it starts, measured while it runs
"""
