"""llmviz: the app's entry point. Navigation (one group per part of the tutorial) and the sidebar.

Pages are listed in pages/_registry.py; this file only turns that list into st.navigation.
"""

import streamlit as st

from pages.shared import session_runs, ui
from pages._registry import sections

st.set_page_config(page_title="llmviz · LLMs from scratch", page_icon=":material/neurology:", layout="wide")

navigation = st.navigation(
    {section: [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path,
                       default=(p.path == "pages/home.py"))
               for p in pages]
     for section, pages in sections().items()},
    expanded=True,  # the whole tutorial is visible at a glance
)

with st.sidebar:
    ui.keep_jobs_alive()  # this session's background jobs stop by themselves once its tab is closed
    ui.corpus_picker()
    ui.device_picker()
    ui.prefetch_element_code()  # charts', tables' and code blocks' front-end code, while the learner reads

session_runs.show_notice()  # runs let go to keep the session within its memory budget, said once
try:
    navigation.run()
finally:  # also after a page's st.stop()
    ui.start_device_probe()  # after the page is drawn, so the first visit does not wait for torch
