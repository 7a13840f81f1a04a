from streammeter.cli.main import app

app()
