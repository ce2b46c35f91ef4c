namespace OspBridge.PeerFetch.Wire;

/// <summary>PeerFetch v2 frame types (docs/peerfetch.md §2.2). Code points follow HTTP/2 where the meaning is the same.</summary>
internal enum FrameType : byte
{
    Data = 0x0,
    Headers = 0x1,
    Reset = 0x3,
    Hello = 0x4,
    Ping = 0x6,
    GoAway = 0x7,
    WindowUpdate = 0x8,
}

/// <summary>Frame flags.</summary>
[Flags]
internal enum FrameFlags : byte
{
    None = 0,
    /// <summary>DATA/HEADERS: the sender's side of the stream ends with this frame. PING: this is the answer (ACK).</summary>
    EndStream = 0x1,
}

/// <summary>Stream and connection error codes carried by RESET and GOAWAY (HTTP/2 numbering).</summary>
internal enum PeerFetchErrorCode : uint
{
    NoError = 0x0,
    ProtocolError = 0x1,
    InternalError = 0x2,
    FlowControlError = 0x3,
    StreamClosed = 0x5,
    FrameSizeError = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    EnhanceYourCalm = 0xb,
}
