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
}
