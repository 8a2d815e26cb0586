"""Health alarms in an acknowledgement: "收到，有员工体温37.8" is a report for a cadre, not a courtesy."""
import pytest

from faq.alarms import raises_alarm
from faq.text import is_courtesy

# Acknowledgements that report nothing wrong: the bot stays quiet.
ALL_CLEAR = [
    "收到，员工均无发热、咳嗽、乏力等症状", "收到，员工均无症状", "收到，会加强感染防控", "收到，没有员工出现发热", "收到，体温异常人数为0", "收到，员工体温都在36.5度左右",
    "收到，不发烧的可以上班", "已通知，员工都没发烧", "收到，今天无人发热", "已安排，未发现疑似", "收到 谢谢 我们厂没有人发烧", "好的，37度以下正常", "收到，体温均低于37.3",
    "收到，员工体温37.2", "收到，体温36.8", "收到，发热门诊在二楼", "已转发，如有发热立即上报", "收到，有发热症状的及时上报", "收到，严格执行发热报告制度",
    "收到，加强对发热人员的管控", "收到，零发热零咳嗽", "收到，今天气温38度", "收到，37栋已消毒", "好的，38号楼明天复工", "收到，第39批物资到了", "收到，40人已返岗",
    "收到，2020年3月", "收到，员工体温37度", "好的，体温正常37.1", "收到，员工无发热无咳嗽",
]
# Acknowledgements that go on to report a case: never silenced.
ALARMS = [
    "收到，3号车间一个工人体温38.2", "好的，有个员工37.5度", "收到 员工体温37.5 已上报", "收到，体温37.8℃的那个员工已隔离", "收到，一名员工体温38°", "收到，体温38℃",
    "收到，员工体温37度5", "收到，测温37.3以上的有2人", "收到，员工体温三十八度", "收到，全员无异常。另外一名员工今天发烧", "收到，早上没发热，下午发热了",
    "收到，没来上班的那个员工发烧了", "收到，未接种疫苗的员工发热了", "收到，我们这里没有口罩，员工发烧了", "收到，员工无症状，核酸阳性", "收到，没有核酸报告的那个人阳性", "收到，有员工高热",
    "收到，员工阳了", "收到，有人拉肚子", "收到，员工呕吐", "收到，员工去了发热门诊", "已转发，有员工阳性", "好的，有个员工咳嗽", "已阅，隔壁厂确诊了", "收到没问题，员工发烧了",
    "收到，不过有员工发烧", "收到，非本厂员工确诊", "收到，隔壁不远的厂确诊了", "收到，员工体温38度", "已上报，有员工核酸异常", "收到，健康码变红码", "收到，没有发热，有员工咳嗽",
    "收到，未发现疑似，但有一人发烧", "好的，员工说发烧38.2℃", "已通知 员工没发烧 隔壁厂有人确诊", "收到，抗原两道杠", "好的，员工不小心受伤了", "没想到员工确诊了",
]


@pytest.mark.parametrize("message", ALL_CLEAR)
def test_an_all_clear_acknowledgement_stays_a_courtesy(message):
    assert is_courtesy(message)


@pytest.mark.parametrize("message", ALARMS)
def test_an_acknowledgement_that_reports_a_case_is_not_silenced(message):
    assert not is_courtesy(message)


def test_a_rule_passed_on_is_no_alarm_but_a_report_made_is():
    assert not raises_alarm("如有发热立即上报") and not raises_alarm("有发热症状的及时上报")
    assert raises_alarm("员工发烧已立即上报") and raises_alarm("发现有员工发烧") and raises_alarm("已按要求隔离发烧员工")


def test_a_denial_ends_with_its_clause_but_covers_a_list():
    assert not raises_alarm("员工均无发热、咳嗽、乏力")
    assert raises_alarm("员工均无发热，咳嗽的有两个")
    assert raises_alarm("早上没发热下午发热了")


def test_temperatures_count_from_37_3_written_as_a_body_temperature():
    assert [raises_alarm(f"员工体温{t}") for t in ("37.2", "37.3", "37度5", "38", "36.9度")] == [False, True, True, True, False]
    assert not raises_alarm("体温检测点40人排队")
    assert raises_alarm("有个员工37.5度") and not raises_alarm("车间里37.5米长的流水线")
    assert not raises_alarm("38.5元一箱") and not raises_alarm("今天气温38度")
