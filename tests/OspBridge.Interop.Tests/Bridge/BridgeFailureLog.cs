namespace OspBridge.Interop.Tests.Bridge;

/// <summary>What a failed bridge test writes into its log: a screenshot of each page and the bridge's and device's output.</summary>
internal static class BridgeFailureLog
{
    /// <summary>Screenshots (base64 PNG) of the pages that exist, then <c>serve</c>'s stderr and the agent's stdout/stderr.</summary>
    public static async Task WriteAsync(ITestOutputHelper output, NetnsProcess serve, NetnsProcess agent, params IPage?[] pages)
    {
        foreach (var page in pages)
        {
            if (page is null) continue;
            try { output.WriteLine("screenshot (base64 PNG): " + Convert.ToBase64String(await page.ScreenshotAsync(new() { FullPage = true }))); }
            catch (PlaywrightException ex) { output.WriteLine("no screenshot: " + ex.Message); }
        }
        output.WriteLine("serve stderr: " + serve.StandardError);
        output.WriteLine("agent stdout: " + string.Join(" | ", agent.StandardOutputLines));
        output.WriteLine("agent stderr: " + agent.StandardError);
    }
}
