from idp_config.cli import app

app()
