namespace OspBridge.Quic.Http3;

/// <summary>HTTP/3 frame types (RFC 9114 §7.2) and stream types (§6.2, RFC 9204 §4.2).</summary>
internal static class Http3FrameType
{
    public const ulong Data = 0x00;
    public const ulong Headers = 0x01;
    public const ulong CancelPush = 0x03;
    public const ulong Settings = 0x04;
    public const ulong PushPromise = 0x05;
    public const ulong Goaway = 0x07;
    public const ulong MaxPushId = 0x0d;

    /// <summary>HTTP/2 frame types reserved in HTTP/3; receiving one is H3_FRAME_UNEXPECTED (§7.2.8).</summary>
    public static bool IsReservedHttp2(ulong type) => type is 0x02 or 0x06 or 0x08 or 0x09;

    /// <summary>A reserved "grease" type 0x1f * N + 0x21 (§7.2.8).</summary>
    public static bool IsGrease(ulong type) => type >= 0x21 && (type - 0x21) % 0x1f == 0;
}

/// <summary>Unidirectional stream types.</summary>
internal static class Http3StreamType
{
    public const ulong Control = 0x00;
    public const ulong Push = 0x01;
    public const ulong QpackEncoder = 0x02;
    public const ulong QpackDecoder = 0x03;
}
