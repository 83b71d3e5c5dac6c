"""Every page of the app, in the tutorial's order. streamlit_app.py, the home page and the tests
all read this list, so a new page is registered by adding one line here.

Only pages that really work are listed: no placeholders.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class PageSpec(NamedTuple):
    section: str  # tutorial part the page belongs to (a navigation group)
    path: str  # file under pages/
    title: str
    icon: str
    summary: str  # one line: what the page teaches

    @property
    def url_path(self) -> str:
        """The page's URL, from its title ("LM1 · one head" -> "lm1-one-head").

        It must differ from the file's name: Streamlit's older pages/-folder mode hashes file names,
        and a clash makes the app test open the page without the sidebar.
        """
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        stem = self.path.rsplit("/", 1)[-1].removesuffix(".py")
        return slug if slug != stem else f"{slug}-page"


HOME = "Start"
PART1 = "Part 1 · Dictionary to attention"
PART2 = "Part 2 · Language models"
PART3 = "Part 3 · Model to assistant"
PART4 = "Part 4 · Frameworks"

PAGES: list[PageSpec] = [
    PageSpec(HOME, "pages/home.py", "Home", ":material/home:", "The map of the tutorial and of this app."),
    # Part 1
    PageSpec(PART1, "pages/levenshtein.py", "Dictionary & Levenshtein", ":material/spellcheck:",
             "Translate word by word; find a missing word's closest key by edit distance."),
    PageSpec(PART1, "pages/one_hot.py", "One-hot vectors", ":material/grid_on:",
             "Sorted vocabularies; every token becomes a row of zeros with a single 1."),
    PageSpec(PART1, "pages/matrix_dictionary.py", "Dictionary as q·Kᵀ·V", ":material/table_chart:",
             "Keys and values as one-hot matrices: a lookup becomes two matrix products."),
    PageSpec(PART1, "pages/cosine.py", "Cosine similarity", ":material/explore:",
             "Decode any vector to its most similar token; near-miss and mixed queries."),
    PageSpec(PART1, "pages/softmax.py", "Softmax", ":material/equalizer:",
             "Scores to probabilities: temperature, the soft lookup, why divide by √d, the stable form."),
    PageSpec(PART1, "pages/attention.py", "Attention", ":material/center_focus_strong:",
             "softmax(QKᵀ/√d)·V translates a whole sentence; a self-attention head with a causal mask."),
    PageSpec(PART1, "pages/bpe.py", "Tokenization (BPE)", ":material/token:",
             "Learn byte-pair merges on your text, step through them, and watch the text compress."),
    PageSpec(PART1, "pages/embeddings.py", "Embeddings", ":material/scatter_plot:",
             "Learn dense word vectors (word2vec, an autoencoder) and look at them: projections, neighbours."),
    # Part 2
    PageSpec(PART2, "pages/next_token.py", "Predicting the next token", ":material/arrow_forward:",
             "(x, y) pairs from a text, a batch, the names; one prompt followed through a model, number by number."),
    PageSpec(PART2, "pages/lm1.py", "LM1 · one attention head", ":material/looks_one:",
             "The smallest model, trained live: unmasked it cheats on its loss and writes garbage; masked it is honest."),
    PageSpec(PART2, "pages/lm2.py", "LM2 · multi-head attention", ":material/view_column:",
             "Several heads and a position embedding: train it live, then generate and look at its attention."),
    PageSpec(PART2, "pages/lm3.py", "LM3 · feed-forward layer", ":material/linear_scale:",
             "A Linear + ReLU after attention: each position thinks about what it gathered."),
    PageSpec(PART2, "pages/lm4.py", "LM4 · residual blocks", ":material/stacks:",
             "Four stacked blocks with residual connections: depth that helps."),
    PageSpec(PART2, "pages/lm5.py", "LM5 · layer norm and dropout", ":material/tune:",
             "Layer normalisation and dropout: as good as LM4 with half the blocks."),
    PageSpec(PART2, "pages/since_gpt2.py", "What changed since GPT-2", ":material/speed:",
             "The speedrun's recipe (RoPE, QK-norm, ReLU², Muon...) trained against LM5's, judged by wall time."),
    PageSpec(PART2, "pages/compare_runs.py", "Compare runs", ":material/stacked_line_chart:",
             "Every run of the session overlaid and tabulated beside the tutorial's results; export as CSV."),
    PageSpec(PART2, "pages/deep_networks.py", "Training deep networks", ":material/layers:",
             "Depth 2 to 16 with residuals and layer norm on or off: gradients per layer, and dropout's gap."),
    PageSpec(PART2, "pages/transformer.py", "The transformer: encoder and decoder", ":material/translate:",
             "An encoder-decoder learns French → English live: decoding token by token, cross-attention, contextual embeddings."),
    # Part 3
    PageSpec(PART3, "pages/finetune.py", "Pre-training and fine-tuning", ":material/school:",
             "Pre-train a base, then fine-tune it fully, with a frozen body and with LoRA: learning vs forgetting."),
    PageSpec(PART3, "pages/lora.py", "LoRA, inside", ":material/compress:",
             "ΔW = B·A beside full fine-tuning's update, its singular values, merge and unmerge, adapters alone."),
    PageSpec(PART3, "pages/instruct.py", "Instruct models", ":material/support_agent:",
             "The chat format token by token, instruction tuning live, base vs tuned on held-out questions."),
    PageSpec(PART3, "pages/chat_context.py", "Chat, context and prompts", ":material/forum:",
             "Memory is the conversation pasted back in; context is a sentence; prompts are chosen words; a tool."),
    # Part 4
    PageSpec(PART4, "pages/serve.py", "Serve your model", ":material/dns:",
             "Your model behind an OpenAI-compatible API: curl, openai and LangChain call it; many clients batched."),
    PageSpec(PART4, "pages/langchain_concepts.py", "LangChain", ":material/link:",
             "LangChain's concepts on your model: LLM and chat model, prompt template, chain, memory, an agent with a tool."),
    PageSpec(PART4, "pages/vector_databases.py", "Vector databases", ":material/database:",
             "Chunks in LanceDB found by vectors, BM25 and both, measured on questions; the index's trade; RAG graded."),
]


def sections() -> dict[str, list[PageSpec]]:
    out: dict[str, list[PageSpec]] = {}
    for p in PAGES:
        out.setdefault(p.section, []).append(p)
    return out
