"""A closed tab frees its work: training started in a real browser stops within seconds of the tab
closing (the server's log says so), not when Streamlit forgets the session minutes later."""

from __future__ import annotations

import time

from pages._registry import PAGES
from pages.shared.ui import UNWATCHED_S
from tests.browser import ARTIFACTS, wait_until_idle

LM2 = next(p for p in PAGES if p.path == "pages/lm2.py")


def test_closing_the_tab_stops_its_training_within_seconds(browser_and_url):
    browser, url = browser_and_url
    port = url.rsplit(":", 1)[1]
    log = ARTIFACTS / f"streamlit-{port}.log"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url + "/")
    wait_until_idle(page)
    page.goto(f"{url}/{LM2.url_path}?lm2_iters=5000&lm2_eval_interval=1000&lm2_eval_iters=1&lm2_batch=128&lm2_embd=128&lm2_sample=0")
    wait_until_idle(page)
    before = log.read_text().count("nobody watched it")
    page.locator(".st-key-lm2_train button").click()
    page.wait_for_function("() => /running/.test(document.querySelector(\"[data-testid='stProgress']\")?.innerText)",
                           timeout=60_000)
    time.sleep(UNWATCHED_S + 2)  # a tab that stays open keeps its run, however long nobody clicks
    assert "running" in page.locator("[data-testid='stProgress']").first.inner_text()
    assert log.read_text().count("nobody watched it") == before
    t = time.monotonic()
    context.close()  # the learner closes the tab
    while log.read_text().count("nobody watched it") == before:
        assert time.monotonic() - t < UNWATCHED_S + 20, "the closed tab's training is still running"
        time.sleep(0.5)
    stopped_after = time.monotonic() - t
    assert stopped_after < UNWATCHED_S + 5
    print(f"closed tab's training stopped {stopped_after:.1f} s after the tab closed")


SERVE = next(p for p in PAGES if p.path == "pages/serve.py")


def test_closing_the_tab_stops_its_model_server_within_seconds(browser_and_url, tmp_path):
    import re
    import socket

    from llmviz.io import checkpoint
    from llmviz.training.config import TrainConfig
    from llmviz.training.presets import preset_config
    from llmviz.training.train import TrainingRun

    text = "ROMEO:\nBut soft, what light through yonder window breaks?\n" * 40
    model = tmp_path / "tiny.safetensors"
    model.write_bytes(checkpoint.run_to_bytes(TrainingRun.new(preset_config("lm2", 1), TrainConfig(
        max_iters=2, eval_interval=2, eval_iters=1, batch_size=4, sample_tokens=0), text).start().join(60)))
    browser, url = browser_and_url
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{url}/{SERVE.url_path}")
    wait_until_idle(page)
    page.get_by_test_id("stRadioGroup").get_by_text("A checkpoint file").click()
    wait_until_idle(page)
    page.locator(".st-key-serve_upload input[type=file]").set_input_files(str(model))
    wait_until_idle(page)
    page.locator(".st-key-serve_start button").click()
    page.get_by_text("Serving").first.wait_for(timeout=60_000)
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)/v1", page.locator("[data-testid='stMain']").inner_text()).group(1))

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    time.sleep(UNWATCHED_S + 2)  # a tab that stays open keeps its server
    assert listening()
    t = time.monotonic()
    context.close()  # the learner closes the tab
    while listening():
        assert time.monotonic() - t < UNWATCHED_S + 20, "the closed tab's server is still listening"
        time.sleep(0.5)
    stopped_after = time.monotonic() - t
    assert stopped_after < UNWATCHED_S + 5
    print(f"closed tab's server stopped {stopped_after:.1f} s after the tab closed")
