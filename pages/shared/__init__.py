"""The pieces pages share: widgets and the sidebar (ui), the Part 1 inputs, the live training panel,
the session's runs, the Part 3 base model, the session's model server, the model playground."""
