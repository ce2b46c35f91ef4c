namespace OspBridge.WebRtc.Ice;

/// <summary>ICE candidate types (RFC 8445 §5.1.1).</summary>
public enum IceCandidateType
{
    /// <summary>A host candidate (an address of a local interface, possibly hidden behind an mDNS name).</summary>
    Host,
    /// <summary>Server reflexive (learned from a STUN server).</summary>
    ServerReflexive,
    /// <summary>Peer reflexive (learned from a connectivity check).</summary>
    PeerReflexive,
    /// <summary>Relayed (TURN).</summary>
    Relay,
}

/// <summary>The agent's role (RFC 8445 §6.1.1).</summary>
public enum IceRole
{
    /// <summary>Controlling: picks and nominates the pair.</summary>
    Controlling,
    /// <summary>Controlled: follows the controlling agent's nomination.</summary>
    Controlled,
}

/// <summary>State of a candidate pair in the checklist (RFC 8445 §6.1.2.6).</summary>
public enum IceCandidatePairState
{
    /// <summary>Waiting for its foundation to be unfrozen.</summary>
    Frozen,
    /// <summary>Ready to be checked.</summary>
    Waiting,
    /// <summary>A check is outstanding.</summary>
    InProgress,
    /// <summary>A check succeeded.</summary>
    Succeeded,
    /// <summary>All retransmissions failed, or an unrecoverable error came back.</summary>
    Failed,
}

/// <summary>One datagram the agent wants sent from local socket <see cref="Local"/> to <see cref="Remote"/>.</summary>
/// <param name="Local">The local base (socket address) to send from.</param>
/// <param name="Remote">The destination.</param>
/// <param name="Data">The STUN message.</param>
public readonly record struct IceTransmit(System.Net.IPEndPoint Local, System.Net.IPEndPoint Remote, byte[] Data);

/// <summary>
/// RFC 7983 first-byte demultiplexing of one UDP socket: STUN 0–3, ZRTP 16–19, DTLS 20–63, TURN channel 64–79,
/// RTP/RTCP 128–191; anything else is dropped.
/// </summary>
public enum PacketKind
{
    /// <summary>Drop it.</summary>
    Unknown,
    /// <summary>STUN (0..3).</summary>
    Stun,
    /// <summary>ZRTP (16..19).</summary>
    Zrtp,
    /// <summary>DTLS (20..63).</summary>
    Dtls,
    /// <summary>TURN ChannelData (64..79).</summary>
    TurnChannel,
    /// <summary>RTP or RTCP (128..191).</summary>
    Rtp,
}

/// <summary>RFC 7983 demultiplexer.</summary>
public static class PacketDemux
{
    /// <summary>Classifies a datagram by its first byte.</summary>
    public static PacketKind Classify(ReadOnlySpan<byte> datagram)
    {
        if (datagram.IsEmpty) return PacketKind.Unknown;
        byte b = datagram[0];
        return b switch
        {
            <= 3 => PacketKind.Stun,
            >= 16 and <= 19 => PacketKind.Zrtp,
            >= 20 and <= 63 => PacketKind.Dtls,
            >= 64 and <= 79 => PacketKind.TurnChannel,
            >= 128 and <= 191 => PacketKind.Rtp,
            _ => PacketKind.Unknown,
        };
    }
}
