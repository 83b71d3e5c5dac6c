"""llmviz: the maths, tokenizers, models, training and figures behind the app. Never imports streamlit."""
