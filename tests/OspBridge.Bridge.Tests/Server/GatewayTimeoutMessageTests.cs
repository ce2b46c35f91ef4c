using OspBridge.Bridge.Server;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>The gateway's 504 says where the time went: the bridge's own queue or the device.</summary>
public sealed class GatewayTimeoutMessageTests
{
    [Fact]
    public void A_request_that_never_left_the_bridges_queue_blames_the_queue_not_the_device()
    {
        string text = RestGateway.TimeoutMessage("abcd", sentToDevice: false, queued: TimeSpan.Zero);
        Assert.Contains("did not send the request to device abcd", text, StringComparison.Ordinal);
        Assert.Contains("bridge's queue", text, StringComparison.Ordinal);
        Assert.Contains(DeviceLink.MaxRequestsInFlight.ToString(System.Globalization.CultureInfo.InvariantCulture), text, StringComparison.Ordinal);
        Assert.DoesNotContain("sent no response", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_request_the_device_did_not_answer_says_so_and_how_long_it_queued_first()
    {
        string text = RestGateway.TimeoutMessage("abcd", sentToDevice: true, queued: TimeSpan.FromSeconds(12));
        Assert.Contains("device abcd sent no response head within 18 s", text, StringComparison.Ordinal);
        Assert.Contains("waited 12 s in the bridge's queue", text, StringComparison.Ordinal);
    }
}
