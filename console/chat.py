class Chats:
    async def close(self) -> None:
        pass
