"""``serve()``: the published dashboard renders in Chromium, offline, with no page errors.

The app is what ``mdw.serve(session)`` writes and runs (its own Voila on 127.0.0.1, not the
suite's): every panel of the dashboard is drawn, and no request of the page leaves 127.0.0.1
(Voila's ``lab`` template links Font Awesome from a CDN; the app's template drops the links).
The screenshot goes to ``test-artifacts/serve-dashboard.png``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import mldebug_widgets as mdw
from mldebug_widgets.serve import serve

from .conftest import LOCAL_PREFIXES

pytestmark = pytest.mark.browser

RENDER_TIMEOUT = 180_000  # ms: the kernel starts, loads the model and data, builds four panels
DRAWN = {  # one locator per panel, attached once the panel has drawn its content
    "header": ".mld-summary .mld-summary-metrics .mld-metric-accuracy",
    "explorer": ".mld-residuals .mld-residual-plot path.dot",
    "editor": ".mld-whatif .mld-ice path.line",
    "slicer": ".mld-fairness .mld-fairness-table table",
    "search": ".mld-adversarial .mld-run",
}


@pytest.fixture(scope="module")
def served(jupyter_dirs):
    """A dashboard served from a session, with Jupyter's files kept in the test's directories."""
    data = mdw.datasets.load_credit(n_rows=2_000, random_state=3)
    session = mdw.bind(mdw.datasets.demo_model(data), data.X, data.y,
                       sensitive_features=["SEX", "AGE"], schema=mdw.datasets.CREDIT_SCHEMA)
    with pytest.MonkeyPatch.context() as env:
        for key, value in {**jupyter_dirs, "OMP_NUM_THREADS": "1"}.items():
            env.setenv(key, value)
        server = serve(session, port=0, bins={"AGE": [0, 30, 200]}, show_tracebacks=True,
                       title="Served credit model")
    yield server
    server.stop()


def test_served_dashboard_renders_offline(offline, page_errors, rendered, screenshot_dir,
                                          served):
    page = offline
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(served.url, timeout=RENDER_TIMEOUT)
    rendered(page, page.locator(".mld-dashboard"), RENDER_TIMEOUT)
    for selector in DRAWN.values():
        expect(page.locator(selector).first).to_be_attached(timeout=RENDER_TIMEOUT)
    expect(page.locator("h1")).to_contain_text("Served credit model")
    page.locator(".mld-dashboard").screenshot(path=str(screenshot_dir / "serve-dashboard.png"))
    page_errors.check()
    assert requests and all(url.startswith(served.url) for url in requests
                            if url.startswith("http"))
    external = [url for url in requests if not url.startswith(LOCAL_PREFIXES)]
    assert not external, f"requests that leave 127.0.0.1: {external}"
