using System.Net;

namespace OspBridge.WebRtc.Tests.PeerConnection;

public sealed class LoopFailureTests
{
    [Fact]
    public async Task UnexpectedExceptionOnTheLoopFailsTheConnectionInsteadOfHanging()
    {
        await using var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] });
        var failed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        pc.OnConnectionStateChange += s => { if (s == RTCPeerConnectionState.Failed) failed.TrySetResult(); };
        pc.PostForTest(_ => throw new InvalidOperationException("simulated bug"));
        await failed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(RTCPeerConnectionState.Failed, pc.ConnectionState);
        // No new channels on a failed connection.
        Assert.Throws<WebRtcException>(() => pc.CreateDataChannel("late"));
        // Later calls complete (with an error) rather than waiting forever on a dead loop.
        var ex = await Assert.ThrowsAsync<WebRtcException>(() => pc.CreateOfferAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(WebRtcError.Closed, ex.Error);
    }
}
