import jwt
from fastapi import FastAPI, HTTPException

app = FastAPI()
SECRET_KEY = "change-me-in-production-0123456789"


def decode(token: str) -> dict:
    return jwt.decode(token, SECRET_KEY)


@app.get("/me")
def me(token: str) -> dict:
    try:
        return decode(token)
    except Exception as e:
        raise HTTPException(status_code=401, detail=str(e))
