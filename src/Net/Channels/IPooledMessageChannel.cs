namespace OspBridge.Net.Channels;

/// <summary>
/// A message channel whose received messages may live in pooled buffers: a receiver that knows this hands each message
/// back with <see cref="Release"/> once it is done with its <see cref="ChannelMessage.Data"/>, and the buffer is reused
/// for a later message (no allocation per message on a bulk transfer). A receiver that never calls it stays correct:
/// the buffer is then simply collected.
/// </summary>
public interface IPooledMessageChannel : IMessageChannel
{
    /// <summary>
    /// Hands back a message returned by <see cref="IMessageChannel.ReceiveAsync"/>. Call at most once per message and do
    /// not touch its data afterwards.
    /// </summary>
    /// <param name="message">The received message.</param>
    void Release(ChannelMessage message);

    /// <summary>Bytes a message handed to <see cref="SendPooledAsync"/> must leave free in front of it (the channel's framing).</summary>
    int SendHeaderRoom { get; }

    /// <summary>
    /// Sends one message that sits in an array rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>, without copying
    /// it: the channel writes its framing into the <see cref="SendHeaderRoom"/> bytes in front of the message, sends the
    /// array as it is and returns it to the pool. The channel owns <paramref name="buffer"/> from the call on, whatever
    /// the outcome. Back-pressure as for <see cref="IMessageChannel.SendAsync"/>.
    /// </summary>
    /// <param name="buffer">The pooled array.</param>
    /// <param name="offset">Where the message starts; at least <see cref="SendHeaderRoom"/>.</param>
    /// <param name="length">The message's length in bytes.</param>
    /// <param name="isText">True for a text (UTF-8) message, false for binary.</param>
    /// <param name="cancellationToken">Stops waiting for room to send (the message is then not sent).</param>
    ValueTask SendPooledAsync(byte[] buffer, int offset, int length, bool isText, CancellationToken cancellationToken = default);
}
