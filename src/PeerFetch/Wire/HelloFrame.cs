using System.Buffers.Binary;

namespace OspBridge.PeerFetch.Wire;

/// <summary>
/// HELLO (type 0x4), stream 0: the first frame each side sends on a v2 channel (the negotiation).
/// <code>
///  Magic "PF" (16) | Version (8) = 2 | Role (8): 1 = initiator, 0 = acceptor
///  Setting × n: Identifier (16) | Value (32)         n ≤ 16, unknown identifiers are ignored
/// </code>
/// The initiator (the end that opened the channel) uses odd stream ids, the acceptor even ones.
/// </summary>
internal static class HelloFrame
{
    public const byte Version = 2;
    public const int FixedLength = 4;
    public const int MaxSettings = 16;
    public const int MaxPayloadLength = FixedLength + (MaxSettings * 6);

    public static bool TryRead(FrameHeader header, ReadOnlySpan<byte> payload, out byte version, out bool initiator, out PeerFetchSettings settings)
    {
        version = 0; initiator = false; settings = PeerFetchSettings.Default;
        if (header.StreamId != 0 || payload.Length < FixedLength || payload.Length > MaxPayloadLength) return false;
        if ((payload.Length - FixedLength) % 6 != 0) return false;
        if (payload[0] != (byte)'P' || payload[1] != (byte)'F' || payload[3] > 1) return false;
        version = payload[2];
        initiator = payload[3] == 1;
        var s = PeerFetchSettings.Default;
        for (int i = FixedLength; i < payload.Length; i += 6)
        {
            ushort id = BinaryPrimitives.ReadUInt16BigEndian(payload[i..]);
            uint value = BinaryPrimitives.ReadUInt32BigEndian(payload[(i + 2)..]);
            switch ((SettingId)id)
            {
                case SettingId.InitialStreamWindow when value is > 0 and <= int.MaxValue: s = s with { InitialStreamWindow = (int)value }; break;
                case SettingId.InitialChannelWindow when value is > 0 and <= int.MaxValue: s = s with { InitialChannelWindow = (int)value }; break;
                case SettingId.MaxFramePayload when value is >= 1024 and <= FrameHeader.MaxLength: s = s with { MaxFramePayload = (int)value }; break;
                case SettingId.MaxConcurrentStreams when value <= int.MaxValue: s = s with { MaxConcurrentStreams = (int)value }; break;
                case SettingId.MaxHeaderBlock when value is >= 256 and <= FrameHeader.MaxLength: s = s with { MaxHeaderBlock = (int)value }; break;
                case SettingId.InitialStreamWindow or SettingId.InitialChannelWindow or SettingId.MaxFramePayload
                    or SettingId.MaxConcurrentStreams or SettingId.MaxHeaderBlock:
                    return false; // a known setting with an impossible value
                default: break; // unknown: ignored (extensibility)
            }
        }
        settings = s;
        return true;
    }

    public static byte[] Create(bool initiator, PeerFetchSettings settings)
    {
        const int n = 5;
        var frame = FrameHeader.Allocate(FrameType.Hello, FrameFlags.None, 0, FixedLength + (n * 6));
        var p = frame.AsSpan(FrameHeader.Size);
        p[0] = (byte)'P'; p[1] = (byte)'F'; p[2] = Version; p[3] = initiator ? (byte)1 : (byte)0;
        int o = FixedLength;
        Put(p, ref o, SettingId.InitialStreamWindow, (uint)settings.InitialStreamWindow);
        Put(p, ref o, SettingId.InitialChannelWindow, (uint)settings.InitialChannelWindow);
        Put(p, ref o, SettingId.MaxFramePayload, (uint)settings.MaxFramePayload);
        Put(p, ref o, SettingId.MaxConcurrentStreams, (uint)settings.MaxConcurrentStreams);
        Put(p, ref o, SettingId.MaxHeaderBlock, (uint)settings.MaxHeaderBlock);
        return frame;
    }

    private static void Put(Span<byte> p, ref int o, SettingId id, uint value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(p[o..], (ushort)id);
        BinaryPrimitives.WriteUInt32BigEndian(p[(o + 2)..], value);
        o += 6;
    }
}

/// <summary>HELLO setting identifiers.</summary>
internal enum SettingId : ushort
{
    InitialStreamWindow = 0x1,
    InitialChannelWindow = 0x2,
    MaxFramePayload = 0x3,
    MaxConcurrentStreams = 0x4,
    MaxHeaderBlock = 0x5,
}

/// <summary>What one side announces in its HELLO: limits for what the peer may send to it.</summary>
internal sealed record PeerFetchSettings
{
    public static readonly PeerFetchSettings Default = new();
    /// <summary>Bytes of DATA the peer may send on a new stream before a WINDOW_UPDATE.</summary>
    public int InitialStreamWindow { get; init; } = 1 << 20;
    /// <summary>Bytes of DATA the peer may send on the whole channel before a WINDOW_UPDATE on stream 0.</summary>
    public int InitialChannelWindow { get; init; } = 8 << 20;
    /// <summary>Largest frame payload accepted.</summary>
    public int MaxFramePayload { get; init; } = 256 << 10;
    /// <summary>Streams the peer may have open towards this side at once.</summary>
    public int MaxConcurrentStreams { get; init; } = 128;
    /// <summary>Largest HEADERS payload accepted.</summary>
    public int MaxHeaderBlock { get; init; } = 64 << 10;
}
