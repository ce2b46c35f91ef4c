namespace OspBridge.Net.Channels;

/// <summary>State of a message channel, mirroring RTCDataChannelState.</summary>
public enum MessageChannelState
{
    /// <summary>Being opened.</summary>
    Connecting,
    /// <summary>Messages can flow.</summary>
    Open,
    /// <summary>A close was started.</summary>
    Closing,
    /// <summary>Closed; no more messages.</summary>
    Closed,
}

/// <summary>One message received on a channel. <see cref="Data"/> is owned by the receiver.</summary>
/// <param name="Data">The message payload.</param>
/// <param name="IsText">True for a text (UTF-8) message, false for binary.</param>
public readonly record struct ChannelMessage(ReadOnlyMemory<byte> Data, bool IsText);

/// <summary>
/// A reliable or partially reliable, message-oriented, bidirectional channel: the common shape of a
/// WebRTC RTCDataChannel and an LP2P data channel. PeerFetch and the bridge run on this abstraction.
/// </summary>
public interface IMessageChannel : IAsyncDisposable
{
    /// <summary>The channel's label.</summary>
    string Label { get; }

    /// <summary>The sub-protocol negotiated for the channel (may be empty).</summary>
    string Protocol { get; }

    /// <summary>Current state.</summary>
    MessageChannelState State { get; }

    /// <summary>Largest message the peer accepts, in bytes (0 = unknown / unlimited).</summary>
    long MaxMessageSize { get; }

    /// <summary>Bytes queued for sending but not yet handed to the transport.</summary>
    long BufferedAmount { get; }

    /// <summary>Sends one message. Completes when the message is queued (back-pressure applies).</summary>
    ValueTask SendAsync(ReadOnlyMemory<byte> data, bool isText, CancellationToken cancellationToken = default);

    /// <summary>Receives the next message; completes with <c>null</c> when the channel is closed.</summary>
    ValueTask<ChannelMessage?> ReceiveAsync(CancellationToken cancellationToken = default);

    /// <summary>Starts an orderly close.</summary>
    ValueTask CloseAsync(CancellationToken cancellationToken = default);
}
