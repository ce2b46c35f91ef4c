namespace OspBridge.WebRtc.DataChannels;

/// <summary>
/// How a data channel is opened — the fields of W3C <c>RTCDataChannelInit</c>. Also reported for channels the
/// peer opens (decoded from its DATA_CHANNEL_OPEN).
/// </summary>
public sealed record DataChannelOptions
{
    /// <summary>Ordered delivery (default true).</summary>
    public bool Ordered { get; init; } = true;

    /// <summary>Partial reliability: give up after this many retransmissions. Exclusive with <see cref="MaxPacketLifeTime"/>.</summary>
    public int? MaxRetransmits { get; init; }

    /// <summary>Partial reliability: give up after this long. Exclusive with <see cref="MaxRetransmits"/>.</summary>
    public TimeSpan? MaxPacketLifeTime { get; init; }

    /// <summary>Sub-protocol name (DCEP "protocol"), at most 65535 UTF-8 bytes.</summary>
    public string Protocol { get; init; } = "";

    /// <summary>True: the application negotiated the channel out of band; no DCEP is sent and <see cref="Id"/> is required.</summary>
    public bool Negotiated { get; init; }

    /// <summary>Stream id for a negotiated channel (for in-band channels it is chosen by DTLS role: client even, server odd).</summary>
    public ushort? Id { get; init; }

    /// <summary>DCEP priority field (RFC 8832; 256 = "normal" in libwebrtc). Carried, not used for scheduling.</summary>
    public ushort Priority { get; init; } = 256;

    /// <summary>The DCEP channel type these options map to.</summary>
    public DataChannelType ChannelType =>
        (MaxRetransmits is not null ? DataChannelType.PartialReliableRexmit
            : MaxPacketLifeTime is not null ? DataChannelType.PartialReliableTimed
            : DataChannelType.Reliable) | (Ordered ? 0 : (DataChannelType)0x80);

    internal uint ReliabilityParameter =>
        MaxRetransmits is { } r ? (uint)Math.Max(0, r)
        : MaxPacketLifeTime is { } l ? (uint)Math.Clamp(l.TotalMilliseconds, 0, uint.MaxValue)
        : 0;

    internal static DataChannelOptions FromOpen(in DcepOpenMessage open, ushort id)
    {
        var type = open.ChannelType;
        bool unordered = ((byte)type & 0x80) != 0;
        return ((byte)type & 0x7F) switch
        {
            0x01 => new DataChannelOptions { Ordered = !unordered, MaxRetransmits = (int)Math.Min(open.ReliabilityParameter, int.MaxValue), Protocol = open.Protocol, Id = id, Priority = open.Priority },
            0x02 => new DataChannelOptions { Ordered = !unordered, MaxPacketLifeTime = TimeSpan.FromMilliseconds(open.ReliabilityParameter), Protocol = open.Protocol, Id = id, Priority = open.Priority },
            _ => new DataChannelOptions { Ordered = !unordered, Protocol = open.Protocol, Id = id, Priority = open.Priority },
        };
    }
}

/// <summary>What a <see cref="DataChannelEvent"/> reports.</summary>
public enum DataChannelEventKind
{
    /// <summary>The SCTP association is established; channels can open.</summary>
    Connected,
    /// <summary>Channel <see cref="DataChannelEvent.ChannelId"/> is open (<see cref="DataChannelEvent.IsRemote"/>: the peer opened it).</summary>
    ChannelOpened,
    /// <summary>A message arrived on <see cref="DataChannelEvent.ChannelId"/>.</summary>
    MessageReceived,
    /// <summary>
    /// The channel's buffered amount fell from above its low threshold (<see cref="DataChannelEndpoint.SetBufferedAmountLowThreshold"/>)
    /// to at or below it (W3C <c>bufferedamountlow</c>); <see cref="DataChannelEvent.BufferedAmount"/> is the amount now.
    /// </summary>
    BufferedAmountLow,
    /// <summary>Channel <see cref="DataChannelEvent.ChannelId"/> is closed (both stream directions reset, or the association ended); its id may be reused.</summary>
    ChannelClosed,
    /// <summary>A channel-level error (e.g. the peer sent a message above our max-message-size); the channel is being closed.</summary>
    ChannelError,
    /// <summary>The association ended (graceful close, abort, or failure; see <see cref="DataChannelEvent.Error"/>).</summary>
    Disconnected,
    /// <summary>
    /// The channel's buffered amount fell (bytes were handed to the network);
    /// <see cref="DataChannelEvent.BufferedAmount"/> is the amount now. Coalesced: at most one per channel between two
    /// drains of the event queue, queued after the other events. Increases are not reported: they happen only in
    /// <see cref="DataChannelEndpoint.Send"/>, by exactly the message length.
    /// </summary>
    BufferedAmountChanged,
}

/// <summary>One event from <see cref="DataChannelEndpoint.TryPollEvent"/>.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="ChannelId">The channel (SCTP stream id).</param>
/// <param name="Label">For <see cref="DataChannelEventKind.ChannelOpened"/>: the label.</param>
/// <param name="Options">For <see cref="DataChannelEventKind.ChannelOpened"/>: protocol and reliability.</param>
/// <param name="IsRemote">For <see cref="DataChannelEventKind.ChannelOpened"/>: true if the peer opened the channel.</param>
/// <param name="IsText">For messages: a string (PPID 51/56) rather than binary.</param>
/// <param name="Payload">For messages: the bytes (owned by the receiver; empty for empty messages).</param>
/// <param name="Error">For errors and <see cref="DataChannelEventKind.Disconnected"/>: what went wrong (<see cref="WebRtcError.Closed"/> for a graceful close).</param>
/// <param name="Reason">Human-readable detail.</param>
/// <param name="BufferedAmount">For <see cref="DataChannelEventKind.BufferedAmountLow"/> and <see cref="DataChannelEventKind.BufferedAmountChanged"/>: the channel's buffered amount now.</param>
public readonly record struct DataChannelEvent(DataChannelEventKind Kind, ushort ChannelId = 0, string? Label = null, DataChannelOptions? Options = null,
    bool IsRemote = false, bool IsText = false, byte[]? Payload = null, WebRtcError Error = WebRtcError.InternalError, string? Reason = null,
    long BufferedAmount = 0);
