"""The pieces pages share: widgets and the sidebar (ui), the Part 1 inputs, the LM pages' training panel,
a run on screen (its buttons and live view), the session's runs, the Part 3 base model, the session's model
server, the model playground."""
